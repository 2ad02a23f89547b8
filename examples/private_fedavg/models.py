"""Two NumPy models whose parameters are one flat float64 vector.

A flat vector is what secure aggregation sums, so the FL loop never has to
know the layer structure.
"""

from __future__ import annotations

import numpy as np


def _softmax_xent_grad(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d(mean cross-entropy)/d(logits)."""
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


class LogisticRegression:
    """Multinomial logistic regression: ``softmax(x W + b)``."""

    def __init__(self, features: int, classes: int = 10) -> None:
        self.features, self.classes = features, classes
        self.dim = features * classes + classes

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """All-zero weights (the convex problem needs no symmetry breaking)."""
        del rng
        return np.zeros(self.dim)

    def _unpack(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k = self.features * self.classes
        return w[:k].reshape(self.features, self.classes), w[k:]

    def logits(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        W, b = self._unpack(w)
        return x @ W + b

    def grad(self, w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        g = _softmax_xent_grad(self.logits(w, x), y)
        return np.concatenate([(x.T @ g).ravel(), g.sum(axis=0)])


class MLP:
    """One hidden ReLU layer: ``softmax(relu(x W1 + b1) W2 + b2)``."""

    def __init__(self, features: int, hidden: int = 64, classes: int = 10) -> None:
        self.features, self.hidden, self.classes = features, hidden, classes
        self._shapes = [(features, hidden), (hidden,), (hidden, classes), (classes,)]
        self.dim = sum(int(np.prod(s)) for s in self._shapes)

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """He-initialised weights, zero biases."""
        W1 = rng.normal(0.0, np.sqrt(2.0 / self.features), (self.features, self.hidden))
        W2 = rng.normal(0.0, np.sqrt(2.0 / self.hidden), (self.hidden, self.classes))
        return np.concatenate([W1.ravel(), np.zeros(self.hidden), W2.ravel(), np.zeros(self.classes)])

    def _unpack(self, w: np.ndarray) -> list[np.ndarray]:
        out, at = [], 0
        for s in self._shapes:
            n = int(np.prod(s))
            out.append(w[at:at + n].reshape(s))
            at += n
        return out

    def logits(self, w: np.ndarray, x: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = self._unpack(w)
        return np.maximum(x @ W1 + b1, 0.0) @ W2 + b2

    def grad(self, w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = self._unpack(w)
        h = np.maximum(x @ W1 + b1, 0.0)
        g = _softmax_xent_grad(h @ W2 + b2, y)
        gh = (g @ W2.T) * (h > 0)
        return np.concatenate([(x.T @ gh).ravel(), gh.sum(axis=0), (h.T @ g).ravel(), g.sum(axis=0)])


def accuracy(model, w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose arg-max class is ``y``."""
    return float((model.logits(w, x).argmax(axis=1) == y).mean())


def local_sgd(model, w: np.ndarray, x: np.ndarray, y: np.ndarray, *, epochs: int, batch: int, lr: float,
              rng: np.random.Generator) -> np.ndarray:
    """Run minibatch SGD from ``w`` on one client's data; return the update ``w_local - w``."""
    v = w.copy()
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for at in range(0, len(y), batch):
            idx = order[at:at + batch]
            v -= lr * model.grad(v, x[idx], y[idx])
    return v - w
