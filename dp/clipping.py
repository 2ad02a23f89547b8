"""L2 clipping of one update (an array or a model's list of layers) and flattening.

A model update is either one ``ndarray`` or a list of arrays (the layers). A
list is clipped *jointly*: its global L2 norm is the norm of all layers
concatenated, and every layer is multiplied by the same factor
``min(1, l2_clip / norm)``. :func:`flatten` and :func:`unflatten` convert
between the layers and one float64 vector, which is what the distributed
pipeline rotates and rounds.

>>> clipped, norm = clip_l2([np.array([3.0]), np.array([[4.0]])], 1.0)
>>> float(norm), [a.tolist() for a in clipped]
(5.0, [[0.6000000000000001], [[0.8]]])
>>> vec, spec = flatten([np.zeros((2, 2)), np.ones(3)])
>>> vec.shape, [a.shape for a in unflatten(vec, spec)]
((7,), [(2, 2), (3,)])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = ["FlatSpec", "clip_l2", "flatten", "global_l2_norm", "unflatten"]

Update = np.ndarray | Sequence[np.ndarray]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FlatSpec:
    """How to cut a flat vector back into layers.

    Attributes:
        shapes: the shape of each layer, in order.
        single: True when the update was one array rather than a list, so
            :func:`unflatten` returns an array rather than a list.

    Raises:
        ValueError: if a shape has a negative dimension, or ``single`` is set
            with other than one shape.
    """

    shapes: tuple[tuple[int, ...], ...]
    single: bool = False

    def __post_init__(self) -> None:
        for shape in self.shapes:
            if any((not isinstance(n, int)) or n < 0 for n in shape):
                raise ValueError(f"shapes must hold non-negative ints, got {shape!r}")
        if self.single and len(self.shapes) != 1:
            raise ValueError(f"single=True needs exactly one shape, got {len(self.shapes)}")

    @property
    def size(self) -> int:
        """Total number of scalars over all layers."""
        return sum(math.prod(shape) for shape in self.shapes)


def _as_layers(update: Update) -> tuple[list[np.ndarray], bool]:
    if isinstance(update, np.ndarray):
        layers, single = [update], True
    elif isinstance(update, (list, tuple)):
        layers, single = list(update), False
        if not layers:
            raise ValueError("update must have at least one layer, got an empty list")
    else:
        raise TypeError(f"update must be an ndarray or a list of ndarrays, got {type(update).__name__}")
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, np.ndarray):
            raise TypeError(f"layer {i} must be an ndarray, got {type(layer).__name__}")
        if layer.dtype.kind not in "iuf":
            raise TypeError(f"layer {i} must hold real numbers, got dtype {layer.dtype}")
        layer = np.asarray(layer, dtype=np.float64)
        if not np.isfinite(layer).all():
            raise ValueError(f"layer {i} holds a non-finite value (nan or inf)")
        out.append(layer)
    return out, single


def _norm(layers: list[np.ndarray]) -> float:
    with np.errstate(over="ignore"):
        total = math.fsum(float(np.dot(a.ravel(), a.ravel())) for a in layers)
    if math.isfinite(total):
        return math.sqrt(total)
    # Squares overflowed: rescale by the largest magnitude first.
    peak = max(float(np.max(np.abs(a))) if a.size else 0.0 for a in layers)
    scaled = math.fsum(float(np.dot(a.ravel() / peak, a.ravel() / peak)) for a in layers)
    return peak * math.sqrt(scaled)


def global_l2_norm(update: Update) -> float:
    """Return the L2 norm of all scalars of ``update`` taken together.

    Args:
        update: one array or a list of arrays.

    Returns:
        The norm as a Python float (overflow-safe for finite inputs).

    Raises:
        TypeError: if ``update`` is not an array or a list of real arrays.
        ValueError: if it is empty or holds nan / inf.
    """
    layers, _ = _as_layers(update)
    return _norm(layers)


def clip_l2(update: Update, l2_clip: float) -> tuple[np.ndarray | list[np.ndarray], float]:
    """Scale ``update`` down so its global L2 norm is at most ``l2_clip``.

    The factor is ``min(1, l2_clip / norm)``, the same for every layer; an
    update already inside the ball is returned unchanged (as a float64 copy).
    The result's norm is at most ``l2_clip`` in float64 arithmetic (the
    factor is nudged down by an ulp when rounding would overshoot).

    Args:
        update: one array or a list of arrays (a model's layers).
        l2_clip: the clipping norm, finite and > 0.

    Returns:
        ``(clipped, original_norm)``: ``clipped`` has the input's structure
        (an array, or a list of arrays of the same shapes) in float64.

    Raises:
        TypeError: if ``update`` is not an array or a list of real arrays, or
            ``l2_clip`` is not a real number.
        ValueError: if ``l2_clip`` is not finite and positive, or the update
            is empty or holds nan / inf.
    """
    if isinstance(l2_clip, bool) or not isinstance(l2_clip, (int, float, np.integer, np.floating)):
        raise TypeError(f"l2_clip must be a real number, got {type(l2_clip).__name__}")
    l2_clip = float(l2_clip)
    if not (math.isfinite(l2_clip) and l2_clip > 0):
        raise ValueError(f"l2_clip must be finite and > 0, got {l2_clip}")
    layers, single = _as_layers(update)
    norm = _norm(layers)
    if norm > l2_clip:
        factor = l2_clip / norm
        clipped = [a * factor for a in layers]
        while _norm(clipped) > l2_clip:
            factor = math.nextafter(factor, 0.0)
            clipped = [a * factor for a in layers]
    else:
        clipped = [a.copy() for a in layers]
    return (clipped[0] if single else clipped), norm


def flatten(layers: Update) -> tuple[np.ndarray, FlatSpec]:
    """Concatenate the layers into one float64 vector (C order).

    Args:
        layers: one array or a list of arrays.

    Returns:
        ``(vector, spec)`` where ``unflatten(vector, spec)`` gives the layers back.

    Raises:
        TypeError, ValueError: as :func:`clip_l2` for the update.
    """
    arrays, single = _as_layers(layers)
    spec = FlatSpec(shapes=tuple(tuple(int(n) for n in a.shape) for a in arrays), single=single)
    vector = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    return vector, spec


def unflatten(vector: np.ndarray, spec: FlatSpec) -> np.ndarray | list[np.ndarray]:
    """Cut ``vector`` back into layers of ``spec.shapes`` (float64 copies).

    Args:
        vector: a 1-D array of exactly ``spec.size`` real numbers.
        spec: from :func:`flatten`.

    Returns:
        One array if ``spec.single``, else a list of arrays.

    Raises:
        TypeError: if ``spec`` is not a :class:`FlatSpec` or ``vector`` not an ndarray.
        ValueError: if ``vector`` is not 1-D of length ``spec.size``.
    """
    if not isinstance(spec, FlatSpec):
        raise TypeError(f"spec must be a FlatSpec, got {type(spec).__name__}")
    if not isinstance(vector, np.ndarray):
        raise TypeError(f"vector must be an ndarray, got {type(vector).__name__}")
    if vector.ndim != 1 or vector.shape[0] != spec.size:
        raise ValueError(f"vector must be 1-D of length {spec.size}, got shape {vector.shape}")
    vector = np.asarray(vector, dtype=np.float64)
    out, start = [], 0
    for shape in spec.shapes:
        n = math.prod(shape)
        out.append(vector[start : start + n].reshape(shape).copy())
        start += n
    return out[0] if spec.single else out
