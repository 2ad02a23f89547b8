"""The two bundled data sets and the non-IID client split (no download anywhere).

* digits: scikit-learn's ``load_digits`` (1,797 8x8 images shipped inside the
  wheel), pixels scaled to [0, 1], 80/20 train/test split.
* MNIST-1D: generated locally by ``mnist1d.data.make_dataset()`` (4,000 train,
  1,000 test sequences of length 40). Its ``get_dataset`` would download a
  pickle from GitHub (and unpickle it); it is never called here.

:func:`dirichlet_split` gives each client a label mix drawn from
Dirichlet(alpha), the usual label-skew benchmark (Hsu et al. 2019).
"""

from __future__ import annotations

import dataclasses
import random as _stdlib_random

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test arrays of one task."""

    name: str
    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int = 10


def load_digits(seed: int = 0) -> Dataset:
    """scikit-learn's bundled digits, pixels / 16, a seeded 80/20 split."""
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    x = bunch.data.astype(np.float64) / 16.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(0.8 * len(y))
    train, test = order[:cut], order[cut:]
    return Dataset("digits", x[train], y[train], x[test], y[test])


def load_mnist1d(samples: int = 5000) -> Dataset:
    """MNIST-1D generated in process: the package's default arguments (seed 42) but ``samples`` sequences (80% train).

    ``make_dataset`` reseeds the global ``random`` and ``np.random`` state;
    both are restored afterwards so that nothing else is affected.
    """
    import matplotlib

    matplotlib.use("Agg")  # mnist1d imports pyplot at import time
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), _stdlib_random.getstate()
    try:
        args = get_dataset_args()
        args.num_samples = samples
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        _stdlib_random.setstate(py_state)
    return Dataset("mnist1d", d["x"].astype(np.float64), d["y"].astype(np.int64),
                   d["x_test"].astype(np.float64), d["y_test"].astype(np.int64))


def dirichlet_split(y: np.ndarray, n_clients: int, alpha: float, rng: np.random.Generator,
                    min_size: int = 2) -> list[np.ndarray]:
    """Split example indices over ``n_clients`` with Dirichlet(``alpha``) label skew.

    For each class, its examples are shared out in proportions drawn from
    Dirichlet(alpha, ..., alpha) over the clients; the draw is repeated until
    every client holds at least ``min_size`` examples.

    Returns:
        One sorted index array per client; together they partition ``range(len(y))``.
    """
    classes = np.unique(y)
    for _ in range(1000):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(y == c))
            shares = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for i, chunk in enumerate(np.split(idx, cuts)):
                parts[i].append(chunk)
        clients = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(c) for c in clients) >= min_size:
            return clients
    raise ValueError(f"no Dirichlet({alpha}) split gave every one of {n_clients} clients {min_size} examples")
