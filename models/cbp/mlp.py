"""A small numpy multilayer perceptron: ReLU hidden layers, softmax cross-entropy.

Kept deliberately plain so the CBP trainer can swap in quantised weights for the
forward pass while gradients land on the latent (full-precision) weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lolpim.core.errors import ParameterError


@dataclass
class MLP:
    weights: list[np.ndarray]   # layer l maps (batch, in) -> (batch, out) via x @ W + b
    biases: list[np.ndarray]

    @classmethod
    def initialise(cls, layer_sizes: tuple[int, ...], rng: np.random.Generator) -> MLP:
        if len(layer_sizes) < 2 or min(layer_sizes) < 1:
            raise ParameterError("layer_sizes", "need >= 2 positive sizes (input, ..., classes)")
        weights = [rng.normal(0.0, np.sqrt(2.0 / n_in), size=(n_in, n_out))  # He init for ReLU
                   for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])]
        biases = [np.zeros(n_out) for n_out in layer_sizes[1:]]
        return cls(weights, biases)

    def copy(self) -> MLP:
        return MLP([w.copy() for w in self.weights], [b.copy() for b in self.biases])

    @property
    def n_layers(self) -> int:
        return len(self.weights)


def forward(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """All layer inputs plus the final logits: [x, h1, ..., logits]."""
    acts = [x]
    for layer, (w, b) in enumerate(zip(weights, biases)):
        z = acts[-1] @ w + b
        acts.append(z if layer == len(weights) - 1 else np.maximum(z, 0.0))
    return acts


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean loss and d loss / d logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = labels.size
    loss = -float(log_p[np.arange(n), labels].mean())
    grad = np.exp(log_p)
    grad[np.arange(n), labels] -= 1.0
    return loss, grad / n


def backward(weights: list[np.ndarray], acts: list[np.ndarray], grad_logits: np.ndarray):
    """Gradients (dW, db) per layer. ``weights`` are those the forward pass used."""
    grads_w, grads_b = [None] * len(weights), [None] * len(weights)
    delta = grad_logits
    for layer in range(len(weights) - 1, -1, -1):
        grads_w[layer] = acts[layer].T @ delta
        grads_b[layer] = delta.sum(axis=0)
        if layer:
            delta = (delta @ weights[layer].T) * (acts[layer] > 0)
    return grads_w, grads_b


def accuracy(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray,
             labels: np.ndarray) -> float:
    return float(np.mean(forward(weights, biases, x)[-1].argmax(axis=1) == labels))


def pretrain(net: MLP, x: np.ndarray, y: np.ndarray, epochs: int, rng: np.random.Generator,
             lr: float = 0.05, momentum: float = 0.9, batch_size: int = 64,
             weight_decay: float = 1e-4, on_epoch=None) -> MLP:
    """Full-precision SGD with momentum; returns a new trained network."""
    net = net.copy()
    params = net.weights + net.biases
    velocity = [np.zeros_like(p) for p in params]
    for epoch in range(epochs):
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            acts = forward(net.weights, net.biases, x[idx])
            loss, grad = softmax_cross_entropy(acts[-1], y[idx])
            total += loss * len(idx)
            gw, gb = backward(net.weights, acts, grad)
            gw = [g + weight_decay * w for g, w in zip(gw, net.weights)]
            for p, v, g in zip(params, velocity, gw + gb):
                v *= momentum
                v -= lr * g
                p += v
        if on_epoch:
            on_epoch({"phase": "pretrain", "epoch": epoch, "loss": total / len(y)})
    return net
