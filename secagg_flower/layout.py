"""What one client's reply becomes as a vector in Z_{2^bits}, and what the sum becomes again.

Pure NumPy over :mod:`secagg` encodings and :mod:`dp.distributed`; no Flower
import. The server and every client build the same :class:`Layout` from the
arrays the server sent, the number of clients and the run config.

Fixed-point path (no DP). The vector has four segments, each a fixed-point
code with its own scale; every code is bounded by the same ``max_code``, so
the sum of ``n_clients`` vectors never wraps (the rule of
:func:`secagg.primitives.encoding.plan_bits`, applied to the largest code):

=============  =====================  ===========================================
segment        length                 value per client
=============  =====================  ===========================================
update         the model size ``D``   ``w * clamp(y - x, -clip, clip)``
examples       1                      ``min(num_examples, max_examples)`` (exact integer)
metrics        :data:`MAX_METRICS`    ``w * clamp(m_i, -metric_clip, metric_clip)``
counters       3                      update clipped (0/1), clipped coordinates
                                      (saturating), examples or a metric clipped (0/1)
=============  =====================  ===========================================

with ``x`` the global arrays the server sent, ``y`` the arrays the user's
training returned and ``w = min(num_examples, max_examples) / max_examples``.
The server divides the update and metric sums by ``sum(w)``, which is the
examples sum over ``max_examples``: exactly Flower's weighted average, to
within the quantisation step (each coordinate of the mean is off by less than
``n / (scale * sum(w))``). Nothing is ever wrapped: a value outside its bound
is clamped and counted, and the counts are summed securely too.

Distributed-DP path. The vector is the update ``y - x`` encoded by
:func:`dp.distributed.encode_client` (L2 clip, rotation with the round's
public seed, conditional rounding, the client's Skellam or discrete-Gaussian
noise); the server decodes the noisy sum and divides by the number of
contributors (an unweighted mean; examples and metrics are not sent).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

import numpy as np

from secagg.primitives.encoding import FixedPointEncoder
from secagg.primitives.randomness import DEFAULT_RANDOM, RandomSource
from secagg.primitives.words import word_dtype
from secagg_flower.config import SecAggSettings

__all__ = ["MAX_METRICS", "ArraySpec", "ClipReport", "Decoded", "Layout"]

MAX_METRICS = 8
"""How many metric values (besides num-examples) one reply may carry; more are not sent."""

_COUNTERS = 3
_MAX_BITS = 62


def _ddp():
    """:mod:`dp.distributed`, imported on first use: dp pulls in dp-accounting and SciPy
    (about 2 s), which a ClientApp process without DP should not pay at every stage."""
    from dp import distributed

    return distributed


def _scale(precision: float) -> float:
    """The power of two ``2**e`` with ``2**-e <= precision`` (as :func:`plan_bits`)."""
    return math.ldexp(1.0, 1 - math.frexp(precision)[1])


def _max_code(bound: float, scale: float) -> int:
    return math.ceil(Fraction(bound) * Fraction(scale))


@dataclasses.dataclass(frozen=True, slots=True)
class ArraySpec:
    """One array of the model: its key, shape and float dtype name."""

    key: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def size(self) -> int:
        """The number of scalars."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True, slots=True)
class ClipReport:
    """What one client clamped (kept on the client; only its sum leaves, securely).

    Attributes:
        update_values: coordinates of the update outside ``[-clip, clip]``
            (fixed point) or 1 if the update's L2 norm exceeded ``l2_clip`` (DP).
        examples: True if num-examples exceeded ``max_examples``.
        metrics: the metric keys whose value was clamped.
        dropped_metrics: metric keys not sent (beyond :data:`MAX_METRICS`, or not scalar).
    """

    update_values: int
    examples: bool
    metrics: tuple[str, ...]
    dropped_metrics: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Decoded:
    """The aggregate the server hands to the strategy.

    Attributes:
        arrays: the new global arrays (global + mean update), in the specs' dtypes.
        examples: the total num-examples (DP path: the number of contributors).
        metrics: ``{key: weighted mean}`` (DP path: empty).
        clipped_clients: how many clients clamped some update coordinate (fixed point).
        clipped_values: how many update coordinates were clamped in total
            (saturates at the segment bound; fixed point).
        clipped_other: how many clients clamped num-examples or a metric (fixed point).
    """

    arrays: list[np.ndarray]
    examples: float
    metrics: dict[str, float]
    clipped_clients: int
    clipped_values: int
    clipped_other: int


@dataclasses.dataclass(frozen=True)
class Layout:
    """The vector one client contributes to one secure round, and its decoding.

    Args:
        specs: the model's arrays, as the server sent them; empty for a
            metrics-only round (federated evaluation).
        n_clients: how many clients the round samples (sizes the bit budget).
        settings: the run's :class:`SecAggSettings`.

    Raises:
        ValueError: no arrays with DP on, a non-float array, or a bit budget above 62
            bits (the message names the settings to change).
    """

    specs: tuple[ArraySpec, ...]
    n_clients: int
    settings: SecAggSettings

    def __post_init__(self) -> None:
        if not self.specs and self.dp is not None:
            raise ValueError("distributed DP protects model updates; a round without arrays (evaluate) has none")
        for s in self.specs:
            if np.dtype(s.dtype).kind != "f":
                raise ValueError(f"array {s.key!r} has dtype {s.dtype}; secure aggregation sums float arrays only")
        if self.n_clients < 2:
            raise ValueError(f"secure aggregation needs at least 2 clients, got {self.n_clients}")
        if self.dp is None and self.bits > _MAX_BITS:
            raise ValueError(
                f"{self.n_clients} clients at secagg-clip={self.settings.clip}, precision={self.settings.update_precision}, "
                f"secagg-max-examples={self.settings.max_examples}, secagg-metric-clip={self.settings.metric_clip}, "
                f"metric precision={self.settings.metric_precision} need {self.bits} bits, more than {_MAX_BITS}; "
                "coarsen a precision or lower a bound"
            )

    # ------------------------------------------------------------ geometry

    @property
    def dp(self):
        """The distributed-DP settings, or None."""
        return self.settings.dp

    @property
    def model_dim(self) -> int:
        """The number of model scalars ``D``."""
        return sum(s.size for s in self.specs)

    def dp_plan(self) -> "dp.distributed.DistributedDPPlan":
        """The distributed-DP plan of this round (DP path only).

        Raises:
            ValueError, BitWidthError: as :func:`dp.distributed.plan`.
        """
        d = self.dp
        if d is None:
            raise ValueError("distributed DP is off")
        ddp = _ddp()
        return ddp.plan(
            ddp.DistributedDPConfig(
                mechanism=d.mechanism,
                bits=d.bits,
                l2_clip=d.l2_clip,
                noise_multiplier=d.noise_multiplier,
                dim=self.model_dim,
                min_clients=d.min_clients,
                max_clients=max(self.n_clients, d.min_clients),
            )
        )

    @property
    def _scales(self) -> tuple[float, float]:
        return _scale(self.settings.update_precision), _scale(self.settings.metric_precision)

    @property
    def max_code(self) -> int:
        """The largest code any segment may hold (fixed-point path)."""
        su, sm = self._scales
        s = self.settings
        return max(_max_code(s.clip, su), s.max_examples, _max_code(s.metric_clip, sm), 1)

    @property
    def bits(self) -> int:
        """The modulus bits of the secure sum."""
        if self.dp is not None:
            return self.dp.bits
        return (self.n_clients * (self.max_code + 1)).bit_length() + 1

    @property
    def dim(self) -> int:
        """The length of the vector each client contributes."""
        if self.dp is not None:
            return _ddp().padded_dim(self.model_dim)
        return self.model_dim + 1 + MAX_METRICS + _COUNTERS

    def _encoders(self) -> tuple[FixedPointEncoder, FixedPointEncoder]:
        su, sm = self._scales
        return (
            FixedPointEncoder(clip=self.settings.clip, scale=su, bits=self.bits),
            FixedPointEncoder(clip=self.settings.metric_clip, scale=sm, bits=self.bits),
        )

    # ------------------------------------------------------------ client side

    def check_reply_arrays(self, arrays: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Return the reply's arrays in spec order, checked against the specs.

        Raises:
            ValueError: other keys, a different shape, a non-float dtype, or a
                non-finite value.
        """
        keys = [s.key for s in self.specs]
        if list(arrays.keys()) != keys and sorted(arrays.keys()) != sorted(keys):
            raise ValueError(f"the training returned arrays {sorted(arrays)}; the server sent {sorted(keys)}")
        out = []
        for s in self.specs:
            a = np.asarray(arrays[s.key])
            if a.shape != s.shape:
                raise ValueError(f"array {s.key!r} came back with shape {a.shape}; the server sent {s.shape}")
            if a.dtype.kind != "f":
                raise ValueError(f"array {s.key!r} came back with dtype {a.dtype}; only float arrays are summed")
            if not np.isfinite(a).all():
                raise ValueError(f"array {s.key!r} holds nan or inf")
            out.append(a)
        return out

    def encode(
        self,
        updated: Sequence[np.ndarray],
        received: Sequence[np.ndarray],
        *,
        num_examples: float,
        metrics: Mapping[str, object],
        rotation_seed: bytes = b"",
        random: RandomSource = DEFAULT_RANDOM,
    ) -> tuple[np.ndarray, tuple[str, ...], ClipReport]:
        """Turn one client's training result into its input vector.

        Args:
            updated: the arrays the training returned (spec order, checked).
            received: the global arrays the server sent (spec order).
            num_examples: the reply's num-examples (fixed-point path), >= 0.
            metrics: the reply's other metric values (fixed-point path).
            rotation_seed: the round's public 32-byte seed (DP path).
            random: randomness for stochastic rounding and noise.

        Returns:
            ``(vector, metric_keys, report)``: the words (length :attr:`dim`,
            values in ``[0, 2**bits)``), the metric keys sent in slot order, and
            what was clamped.

        Raises:
            ValueError: a negative or non-finite num-examples, a wrong size.
        """
        delta = np.concatenate([np.zeros(0)] + [
            (np.asarray(y, np.float64) - np.asarray(x, np.float64)).ravel() for y, x in zip(updated, received, strict=True)
        ])
        if delta.shape[0] != self.model_dim:
            raise ValueError(f"update has {delta.shape[0]} scalars, expected {self.model_dim}")
        if self.dp is not None:
            norm = float(np.linalg.norm(delta))
            vec = _ddp().encode_client(delta, self.dp_plan(), rotation_seed=rotation_seed, random=random)
            return vec, (), ClipReport(int(norm > self.dp.l2_clip), False, (), ())
        s = self.settings
        if isinstance(num_examples, bool) or not isinstance(num_examples, (int, float)) or not math.isfinite(num_examples) or num_examples < 0:
            raise ValueError(f"num-examples must be a finite number >= 0, got {num_examples!r}")
        examples = min(int(round(num_examples)), s.max_examples)
        w = examples / s.max_examples
        enc_u, enc_m = self._encoders()
        clipped = int(np.count_nonzero(np.abs(delta) > s.clip))
        words = np.empty(self.dim, dtype=word_dtype(self.bits))
        D = self.model_dim
        words[:D] = enc_u.encode(np.clip(delta, -s.clip, s.clip) * w, random=random)
        words[D] = examples
        keys, values, dropped = [], [], []
        for k in sorted(metrics):
            v = metrics[k]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or len(keys) >= MAX_METRICS:
                dropped.append(k)
                continue
            keys.append(k)
            values.append(float(v))
        clipped_metrics = tuple(k for k, v in zip(keys, values) if abs(v) > s.metric_clip)
        slots = np.zeros(MAX_METRICS)
        slots[: len(values)] = np.clip(values, -s.metric_clip, s.metric_clip) * w if values else []
        words[D + 1 : D + 1 + MAX_METRICS] = enc_m.encode(slots, random=random)
        other = int(num_examples > s.max_examples or bool(clipped_metrics))
        words[D + 1 + MAX_METRICS :] = [int(clipped > 0), min(clipped, self.max_code), other]
        report = ClipReport(clipped, num_examples > s.max_examples, clipped_metrics, tuple(dropped))
        return words, tuple(keys), report

    # ------------------------------------------------------------ server side

    def decode(
        self,
        total: np.ndarray,
        received: Sequence[np.ndarray],
        *,
        n_included: int,
        metric_keys: Sequence[str] = (),
        rotation_seed: bytes = b"",
    ) -> Decoded:
        """Turn the secure sum of ``n_included`` vectors into the new global arrays.

        Args:
            total: the sum mod ``2**bits`` (length :attr:`dim`).
            received: the global arrays the server sent (spec order).
            n_included: how many clients the sum holds.
            metric_keys: the metric keys in slot order (from the replies).
            rotation_seed: the round's seed (DP path).

        Returns:
            A :class:`Decoded`.

        Raises:
            ValueError: a wrong length, more keys than slots, a sum whose
                examples total is 0 (no weight to average by), or (DP) a count
                outside the plan's range.
        """
        total = np.asarray(total)
        if total.shape != (self.dim,):
            raise ValueError(f"sum has shape {total.shape}, expected ({self.dim},)")
        if self.dp is not None:
            noisy = _ddp().decode_sum(total, self.dp_plan(), rotation_seed=rotation_seed, n_clients=n_included)
            mean = noisy / n_included
            return Decoded(self._apply(received, mean), float(n_included), {}, 0, 0, 0)
        if len(metric_keys) > MAX_METRICS:
            raise ValueError(f"{len(metric_keys)} metric keys, at most {MAX_METRICS}")
        enc_u, enc_m = self._encoders()
        D = self.model_dim
        half, modulus = 1 << (self.bits - 1), 1 << self.bits
        ints = [int(v) - modulus if int(v) >= half else int(v) for v in total[D:].tolist()]
        examples = ints[0]
        if examples <= 0:
            raise ValueError("the summed num-examples is 0: no weight to average the updates by")
        weight = examples / self.settings.max_examples
        mean = enc_u.decode(total[:D]) / weight
        metric_sums = enc_m.decode(total[D + 1 : D + 1 + MAX_METRICS])
        metrics = {k: float(metric_sums[i] / weight) for i, k in enumerate(metric_keys)}
        c_clients, c_values, c_other = ints[1 + MAX_METRICS :]
        return Decoded(self._apply(received, mean), float(examples), metrics, c_clients, c_values, c_other)

    def _apply(self, received: Sequence[np.ndarray], mean: np.ndarray) -> list[np.ndarray]:
        out, at = [], 0
        for s, x in zip(self.specs, received, strict=True):
            part = mean[at : at + s.size].reshape(s.shape)
            out.append((np.asarray(x, np.float64) + part).astype(s.dtype))
            at += s.size
        return out

    def quantisation_bound(self, weight_sum: float) -> float:
        """The largest error of one coordinate of the mean update (fixed-point path).

        ``n_clients`` stochastic roundings of step ``1/scale`` divided by the
        summed weight ``sum(w)``: ``n_clients / (scale * sum(w))``.
        """
        return self.n_clients / (self._scales[0] * weight_sum)
