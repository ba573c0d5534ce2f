"""CBP post-training of a pretrained MLP.

The forward pass uses every constrained layer's weights rounded to the nearest level;
the backward pass hands the resulting gradient straight through to the latent
full-precision weights, which also feel lambda * d cs / d w. The first and last layers
stay full precision (they are small and the most sensitive to precision).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lolpim.core.errors import ParameterError

from lolpim.models.cbp.constraint import constraint, constraint_failure_score
from lolpim.models.cbp.levels import LevelSet, layer_scale, level_set
from lolpim.models.cbp.mlp import MLP, accuracy, backward, forward, softmax_cross_entropy
from lolpim.models.cbp.schedule import CBPSettings, QuasiStaticSchedule


@dataclass
class CBPResult:
    constraint: str
    latent: MLP                          # latent weights after post-training
    quantised: MLP                       # what is deployed: constrained layers on their levels
    constrained_layers: tuple[int, ...]
    scales: dict[int, float]             # fixed per-layer scale a
    history: list[dict] = field(default_factory=list)

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def hidden_layers(net: MLP) -> tuple[int, ...]:
    """Layers CBP constrains: all but the first and the last."""
    if net.n_layers < 3:
        raise ParameterError("layer_sizes", "CBP keeps the first and last layers full precision; "
                                            "use at least 3 weight layers")
    return tuple(range(1, net.n_layers - 1))


def quantise(net: MLP, levels: LevelSet, scales: dict[int, float]) -> list[np.ndarray]:
    return [levels.round(w, scales[i]) if i in scales else w for i, w in enumerate(net.weights)]


def mean_cfs(net: MLP, levels: LevelSet, scales: dict[int, float]) -> float:
    """CFS over all constrained weights (each layer's CFS weighted by its size)."""
    sizes = [net.weights[i].size for i in scales]
    scores = [constraint_failure_score(net.weights[i], levels, a) for i, a in scales.items()]
    return float(np.average(scores, weights=sizes))


def post_train(pretrained: MLP, constraint_name: str, data: tuple, epochs: int,
               rng: np.random.Generator, settings: CBPSettings = CBPSettings(),
               on_epoch=None) -> CBPResult:
    """Run CBP for ``epochs`` epochs; ``data`` = (x_train, y_train, x_test, y_test)."""
    if epochs < 1:
        raise ParameterError("epochs", "must be >= 1")
    levels = level_set(constraint_name)
    x_train, y_train, x_test, y_test = data
    net = pretrained.copy()
    layers = hidden_layers(net)
    scales = {i: layer_scale(pretrained.weights[i]) for i in layers}
    lambdas = {i: np.zeros_like(net.weights[i]) for i in layers}
    schedule = QuasiStaticSchedule(settings)
    params = net.weights + net.biases
    velocity = [np.zeros_like(p) for p in params]
    history: list[dict] = []
    n = len(y_train)

    def ascend_multipliers():
        # lambda <- lambda + eta * cs(W; g) with the window as it stands *now*: weights that
        # the window has just released get their multiplier at once, not one stage later
        if settings.use_constraint:
            for i in layers:
                lambdas[i] += settings.eta_lambda * constraint(net.weights[i], levels, scales[i],
                                                               schedule.g)[0]

    ascend_multipliers()   # at g = 1 only weights outside [q_min, q_max] are charged

    for epoch in range(epochs):
        g = schedule.g
        lr = schedule.lr_weights
        order = rng.permutation(n)
        lagrangian = loss_sum = 0.0
        for start in range(0, n, settings.batch_size):
            idx = order[start:start + settings.batch_size]
            used = quantise(net, levels, scales)
            acts = forward(used, net.biases, x_train[idx])
            loss, grad = softmax_cross_entropy(acts[-1], y_train[idx])
            gw, gb = backward(used, acts, grad)   # straight through: dL/dW_q lands on W
            lagrangian += loss
            loss_sum += loss * len(idx)
            if settings.use_constraint:
                for i in layers:
                    cs, slope = constraint(net.weights[i], levels, scales[i], g)
                    gw[i] = gw[i] + lambdas[i] * slope
                    lagrangian += float(np.sum(lambdas[i] * cs))
            for p, v, gr in zip(params, velocity, gw + gb):
                gr = np.clip(gr, -settings.grad_clip, settings.grad_clip)
                v *= settings.momentum
                v -= lr * gr
                p += v
            for i in layers:
                limit = settings.clamp_scales * scales[i]
                np.clip(net.weights[i], -limit, limit, out=net.weights[i])

        updated = schedule.end_epoch(lagrangian)   # True: g has moved on
        if updated:
            ascend_multipliers()
        used = quantise(net, levels, scales)
        record = {"epoch": epoch, "g": g, "lr": lr, "lagrangian": lagrangian,
                  "loss": loss_sum / n, "cfs": mean_cfs(net, levels, scales),
                  "train_acc": accuracy(used, net.biases, x_train, y_train),
                  "test_acc": accuracy(used, net.biases, x_test, y_test),
                  "mean_lambda": float(np.mean(np.concatenate([lambdas[i].ravel() for i in layers]))),
                  "updated": updated}
        history.append(record)
        if on_epoch:
            on_epoch(record)

    quantised = MLP(quantise(net, levels, scales), [b.copy() for b in net.biases])
    return CBPResult(constraint_name, net, quantised, layers, scales, history)
