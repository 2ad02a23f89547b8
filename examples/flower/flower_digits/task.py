"""The learning task: multinomial logistic regression on scikit-learn's digits (shipped in its wheel).

Deterministic on purpose (a fixed split, full-batch gradient descent), so that
a test can recompute any client's update and compare the secure aggregate
with the plain one.
"""

from __future__ import annotations

import numpy as np

N_FEATURES, N_CLASSES = 64, 10


def load_data():
    """``(X_train, y_train, X_test, y_test)``: pixels scaled to [0, 1], a fixed 80/20 split."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))  # a fixed data split, not randomness for secrets
    cut = int(0.8 * len(y))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


def load_partition(partition_id: int, num_partitions: int):
    """This node's share of the training set: every ``num_partitions``-th example."""
    X, y, _, _ = load_data()
    return X[partition_id::num_partitions], y[partition_id::num_partitions]


def load_test_partition(partition_id: int, num_partitions: int):
    """This node's share of the test set (for federated evaluation)."""
    _, _, X, y = load_data()
    return X[partition_id::num_partitions], y[partition_id::num_partitions]


def initial_model() -> dict[str, np.ndarray]:
    """Zero weights and bias."""
    return {"w": np.zeros((N_FEATURES, N_CLASSES), np.float32), "b": np.zeros(N_CLASSES, np.float32)}


def _probs(model, X):
    z = X @ model["w"] + model["b"]
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def train(model: dict[str, np.ndarray], X, y, *, epochs: int, lr: float):
    """Full-batch gradient descent on the cross-entropy; returns ``(model, mean loss)``."""
    w, b = model["w"].astype(np.float64), model["b"].astype(np.float64)
    onehot = np.eye(N_CLASSES)[y]
    for _ in range(epochs):
        p = _probs({"w": w, "b": b}, X)
        g = (p - onehot) / len(y)
        w -= lr * (X.T @ g)
        b -= lr * g.sum(axis=0)
    p = _probs({"w": w, "b": b}, X)
    loss = float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())
    return {"w": w.astype(np.float32), "b": b.astype(np.float32)}, loss


def evaluate(model: dict[str, np.ndarray], X, y) -> tuple[float, float]:
    """``(loss, accuracy)`` on ``(X, y)``."""
    p = _probs({k: v.astype(np.float64) for k, v in model.items()}, X)
    return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean()), float((p.argmax(axis=1) == y).mean())
