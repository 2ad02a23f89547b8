"""The one check of a round's inputs, shared by the masking and the CKKS backends.

:func:`check_round_input` validates what both in-process runners take (the
vectors, the dropout schedule, ``min_contributors``) once, with typed errors
that name the argument; each backend then checks only its own options.

>>> import numpy as np
>>> arrays, drops, m = check_round_input([np.zeros(2), np.ones(2)], {2: "x"}, None)
>>> len(arrays), drops, m
(2, {2: 'x'}, None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["check_random", "check_round_input"]


def check_round_input(
    vectors: object, dropouts: object, min_contributors: object
) -> tuple[list[np.ndarray], dict[int, object], int | None]:
    """Check the inputs every backend shares.

    Args:
        vectors: a sequence (or a 2-D array) of at least 2 one-dimensional,
            non-empty, equally long arrays of integers or floats.
        dropouts: None or a mapping whose keys are client ids ``1..n`` (ints,
            not bools); the values are the backend's to check.
        min_contributors: None or an int in ``[2, n]``.

    Returns:
        ``(arrays, {id: value}, min_contributors)``.

    Raises:
        TypeError: ``vectors`` not a sequence of real arrays, ``dropouts`` not
            a mapping, an id or ``min_contributors`` not an int.
        ValueError: fewer than 2 vectors, ragged or empty ones, an id outside
            ``1..n``, ``min_contributors`` outside ``[2, n]``.
    """
    if isinstance(vectors, np.ndarray) and vectors.ndim == 2:
        vectors = list(vectors)
    if not isinstance(vectors, Sequence) or isinstance(vectors, (str, bytes)):
        raise TypeError(f"vectors must be a sequence of 1-D arrays, got {type(vectors).__name__}")
    if len(vectors) < 2:
        raise ValueError(f"need at least 2 vectors, got {len(vectors)}: a sum of one client is that client's input")
    arrays = [np.asarray(v) for v in vectors]
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "fiu":
            raise TypeError(f"vectors[{i}] must hold integers or floats, got dtype {a.dtype}")
        if a.ndim != 1 or a.size == 0 or a.shape != arrays[0].shape:
            raise ValueError(f"vectors[{i}] has shape {a.shape}; all must be 1-D, non-empty and of length {arrays[0].shape}")
    n = len(arrays)
    if dropouts is None:
        dropouts = {}
    if not isinstance(dropouts, Mapping):
        raise TypeError(f"dropouts must be a mapping {{client id: phase}}, got {type(dropouts).__name__}")
    for u in dropouts:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)):
            raise TypeError(f"dropouts: a client id must be an int, got {u!r}")
        if not 1 <= u <= n:
            raise ValueError(f"dropouts: id {u} is not a client id in [1, {n}]")
    if min_contributors is not None:
        if isinstance(min_contributors, bool) or not isinstance(min_contributors, (int, np.integer)):
            raise TypeError(f"min_contributors must be an int, got {min_contributors!r}")
        if not 2 <= min_contributors <= n:
            raise ValueError(f"min_contributors must be in [2, {n}] (a sum of one client is its input), got {min_contributors}")
        min_contributors = int(min_contributors)
    return arrays, {int(u): p for u, p in dropouts.items()}, min_contributors


def check_random(random: object) -> object:
    """Check that ``random`` is a randomness source (has ``token_bytes(n)``).

    Args:
        random: the candidate source.

    Returns:
        ``random`` unchanged.

    Raises:
        TypeError: naming the argument, if it has no callable ``token_bytes``.
    """
    if not callable(getattr(random, "token_bytes", None)):
        raise TypeError(f"random must be a randomness source with a token_bytes(n) method, got {type(random).__name__}")
    return random
