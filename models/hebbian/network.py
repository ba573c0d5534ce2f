"""Supervised Hebbian memory with ternary (-1, 0, +1) synapses, trained as a Markov chain.

A layer maps binary input vectors (presynaptic activity) to binary output vectors
(postsynaptic neurons). During training a teacher says which output neurons should
fire; each neuron turns that into a per-presentation plasticity signal (LTP, LTD or
quiet, see hebbian_rule.py) and every synapse takes one Markov step from its own state,
its input's activity and that signal. There are no hidden real-valued weights.

Two ways to train, same numbers for the same generator:

* streaming: ``TernaryLayer.learn(pre, target, rng)`` one sample at a time, constant
  memory, or the pure ``online_update`` (weights in, new weights and counts out) that an
  actor can call per message;
* batched: ``TernaryLayer.fit(X, T, rng, epochs)`` over arrays, with epoch shuffling and
  per-sample transition counts for the whole run.

Multi-layer memories are trained greedily, one layer (edge) at a time: layer k learns
to map the recalled output of layer k-1 onto its own teacher code (``train_greedy``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.rule import (POST_LTD, POST_LTP, POST_QUIET, STATES, TransitionRule,
                                        step, transition_counts)

STATES_ARRAY = np.array(STATES, dtype=np.int8)


def post_signal(scores: np.ndarray, target: np.ndarray, threshold: float,
                margin: float | None) -> np.ndarray:
    """Each neuron's plasticity signal from its own drive and its teacher bit.

    With ``margin=None`` the teacher alone decides (LTP if told to fire, LTD otherwise).
    With a margin, a neuron already beyond ``threshold +/- margin`` on the right side is
    quiet: learning stops where the answer is safe, so the chain settles instead of
    drifting (the stop-learning gate of Senn & Fusi / Brader et al.).
    """
    target = np.asarray(target, dtype=bool)
    if margin is None:
        return np.where(target, POST_LTP, POST_LTD).astype(np.int8)
    ltp = target & (scores < threshold + margin)
    ltd = ~target & (scores > threshold - margin)
    return (ltp.astype(np.int8) - ltd.astype(np.int8)).astype(np.int8)


@dataclass(frozen=True)
class LayerConfig:
    n_in: int
    n_out: int
    rule: TransitionRule = field(default_factory=TransitionRule)
    threshold: float = 0.0          # a neuron fires when its summed ternary input exceeds this
    margin: float | None = 2.0      # stop-learning margin around the threshold; None = ungated

    def __post_init__(self):
        for name in ("n_in", "n_out"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(name, f"must be a positive integer, got {value!r}")
        if not isinstance(self.rule, TransitionRule):
            raise ParameterError("rule", "must be a TransitionRule")
        if self.margin is not None and not self.margin >= 0:
            raise ParameterError("margin", f"must be >= 0 or None, got {self.margin!r}")


def _learn_in_place(weights: np.ndarray, pre: np.ndarray, target: np.ndarray,
                    rng: np.random.Generator, config: LayerConfig) -> np.ndarray:
    """One presentation; mutates ``weights``; returns the 3x3 transition counts.

    Random numbers are drawn only for synapses that can move (neurons not quiet, times the
    inputs the rule lets move), one uniform each, row-major: the draw order depends on the
    data and the weights, never on which mode called this, so streaming and batched agree.
    """
    active = np.flatnonzero(pre)
    scores = weights[:, active].sum(axis=1, dtype=np.int64)
    post = post_signal(scores, target, config.threshold, config.margin)
    rows = np.flatnonzero(post != POST_QUIET)
    cols = np.arange(weights.shape[1]) if config.rule.p_hetero_depress > 0 else active
    if rows.size == 0 or cols.size == 0:
        return np.zeros((3, 3), dtype=np.int64)
    block_rows = rows[:, None]
    before = weights[block_rows, cols]
    uniforms = rng.random((rows.size, cols.size))
    after = step(before, pre[cols][None, :], post[rows][:, None], uniforms, config.rule)
    weights[block_rows, cols] = after
    return transition_counts(before, after)


def _check_sample(pre, target, config: LayerConfig) -> tuple[np.ndarray, np.ndarray]:
    pre = np.asarray(pre)
    target = np.asarray(target)
    if pre.shape != (config.n_in,):
        raise ParameterError("pre", f"must have shape ({config.n_in},), got {pre.shape}")
    if target.shape != (config.n_out,):
        raise ParameterError("target", f"must have shape ({config.n_out},), got {target.shape}")
    return (pre != 0).astype(np.int8), target != 0


@dataclass(frozen=True)
class UpdateResult:
    weights: np.ndarray        # int8, shape (n_out, n_in), a new array
    counts: np.ndarray         # 3x3 (from-state, to-state) counts, states ordered (-1, 0, +1)

    @property
    def transitions(self) -> int:
        return int(self.counts.sum())


def online_update(weights: np.ndarray, pre, target, rng: np.random.Generator,
                  config: LayerConfig) -> UpdateResult:
    """Pure single-sample update for callers that own the state (an actor per message):
    the input weights are not modified; ``rng`` advances exactly as in ``TernaryLayer.learn``."""
    pre, target = _check_sample(pre, target, config)
    new = np.array(weights, dtype=np.int8, copy=True)
    if new.shape != (config.n_out, config.n_in):
        raise ParameterError("weights", f"must have shape ({config.n_out}, {config.n_in}), got {new.shape}")
    counts = _learn_in_place(new, pre, target, rng, config)
    return UpdateResult(new, counts)


@dataclass
class FitHistory:
    """What one ``fit`` call did: per-sample transition totals and per-epoch 3x3 counts."""

    transitions_per_sample: np.ndarray      # int, one entry per presentation, in order
    counts_per_epoch: list[np.ndarray]      # 3x3 (from, to) counts per epoch
    epoch_metrics: list[dict] = field(default_factory=list)  # filled by the caller's callback


class TernaryLayer:
    """One layer of ternary synapses (int8 matrix, n_out x n_in), all starting at 0."""

    def __init__(self, config: LayerConfig, weights: np.ndarray | None = None):
        self.config = config
        if weights is None:
            weights = np.zeros((config.n_out, config.n_in), dtype=np.int8)
        weights = np.array(weights, dtype=np.int8, copy=True)
        if weights.shape != (config.n_out, config.n_in):
            raise ParameterError("weights", f"must have shape ({config.n_out}, {config.n_in}), got {weights.shape}")
        if not np.isin(weights, STATES_ARRAY).all():
            raise ParameterError("weights", "every weight must be -1, 0 or +1")
        self.weights = weights

    @classmethod
    def over(cls, config: LayerConfig, weights: np.ndarray) -> TernaryLayer:
        """A layer working on ``weights`` in place (not copied or checked: the caller owns a valid
        int8 matrix of shape (n_out, n_in), e.g. an actor's declared state)."""
        layer = cls.__new__(cls)
        layer.config, layer.weights = config, weights
        return layer

    # --- recall ---------------------------------------------------------------------------
    def scores(self, X: np.ndarray) -> np.ndarray:
        """Summed ternary drive of every output neuron, shape (samples, n_out)."""
        X = np.atleast_2d(X)
        if len(X) <= 8:  # a few samples: add up the columns of their active inputs
            return np.stack([self.weights[:, np.flatnonzero(row)].sum(axis=1, dtype=np.int32)
                             for row in X])
        # float32 BLAS is exact here (integer sums far below 2**24) and much faster than int matmul
        X = np.atleast_2d(np.asarray(X) != 0).astype(np.float32)
        return (X @ self.weights.T.astype(np.float32)).astype(np.int32)

    def fire(self, X: np.ndarray) -> np.ndarray:
        """Binary output: neurons whose drive exceeds the threshold."""
        return (self.scores(X) > self.config.threshold).astype(np.int8)

    def winner(self, X: np.ndarray) -> np.ndarray:
        """One-hot output of the most driven neuron (winner-take-all; lowest index on ties)."""
        s = self.scores(X)
        out = np.zeros_like(s, dtype=np.int8)
        out[np.arange(len(s)), s.argmax(axis=1)] = 1
        return out

    def backward(self, post: np.ndarray) -> np.ndarray:
        """Run the same synapses backwards: drive of each input from active outputs."""
        post = np.atleast_2d(post)
        if len(post) <= 8:  # a few patterns: add up the rows of their active outputs
            return np.stack([self.weights[np.flatnonzero(row)].sum(axis=0, dtype=np.int32)
                             for row in post])
        post = np.atleast_2d(np.asarray(post) != 0).astype(np.float32)
        return (post @ self.weights.astype(np.float32)).astype(np.int32)

    # --- learning -------------------------------------------------------------------------
    def learn(self, pre, target, rng: np.random.Generator) -> np.ndarray:
        """Streaming mode: one sample, in place, constant memory. Returns 3x3 counts."""
        pre, target = _check_sample(pre, target, self.config)
        return _learn_in_place(self.weights, pre, target, rng, self.config)

    def fit(self, X: np.ndarray, T: np.ndarray, rng: np.random.Generator, epochs: int = 1,
            shuffle: bool = True, on_epoch=None) -> FitHistory:
        """Batched mode over arrays: each epoch presents every row once (in an order drawn
        from ``rng`` when ``shuffle``). ``on_epoch(epoch, layer)`` may return a dict of
        metrics (a learning curve point) and may return ``{"stop": True}`` to end early."""
        X = np.asarray(X) != 0
        T = np.asarray(T) != 0
        if X.ndim != 2 or X.shape[1] != self.config.n_in:
            raise ParameterError("X", f"must have shape (samples, {self.config.n_in}), got {X.shape}")
        if T.shape != (X.shape[0], self.config.n_out):
            raise ParameterError("T", f"must have shape ({X.shape[0]}, {self.config.n_out}), got {T.shape}")
        if not isinstance(epochs, int) or epochs < 1:
            raise ParameterError("epochs", f"must be a positive integer, got {epochs!r}")
        X8 = X.astype(np.int8)
        per_sample: list[int] = []
        history = FitHistory(np.zeros(0, dtype=np.int64), [])
        for epoch in range(epochs):
            order = rng.permutation(len(X8)) if shuffle else np.arange(len(X8))
            epoch_counts = np.zeros((3, 3), dtype=np.int64)
            for i in order:
                counts = _learn_in_place(self.weights, X8[i], T[i], rng, self.config)
                epoch_counts += counts
                per_sample.append(int(counts.sum()))
            history.counts_per_epoch.append(epoch_counts)
            if on_epoch is not None:
                metrics = on_epoch(epoch, self) or {}
                history.epoch_metrics.append(metrics)
                if metrics.get("stop"):
                    break
        history.transitions_per_sample = np.asarray(per_sample, dtype=np.int64)
        return history

    # --- snapshot / restore (msgpack-friendly: dicts of str, int, float, list, bytes) ----
    def state(self) -> dict:
        rule = self.config.rule
        return {"n_in": int(self.config.n_in), "n_out": int(self.config.n_out),
                "threshold": float(self.config.threshold),
                "margin": None if self.config.margin is None else float(self.config.margin),
                "rule": {"p_potentiate": float(rule.p_potentiate), "p_depress": float(rule.p_depress),
                         "p_hetero_depress": float(rule.p_hetero_depress)},
                "weights": self.weights.astype(np.int8).tobytes()}

    @classmethod
    def from_state(cls, state: dict) -> TernaryLayer:
        config = LayerConfig(int(state["n_in"]), int(state["n_out"]), TransitionRule(**state["rule"]),
                             float(state["threshold"]), state["margin"])
        weights = np.frombuffer(state["weights"], dtype=np.int8).reshape(config.n_out, config.n_in)
        return cls(config, weights)



def rng_state(rng: np.random.Generator) -> dict:
    """The generator's exact state with its 128-bit integers as 16-byte big-endian bytes
    (msgpack integers stop at 64 bits)."""
    raw = rng.bit_generator.state
    if raw["bit_generator"] != "PCG64":
        raise ParameterError("rng", f"only PCG64 generators are supported, got {raw['bit_generator']}")
    return {"bit_generator": "PCG64",
            "state": raw["state"]["state"].to_bytes(16, "big"),
            "inc": raw["state"]["inc"].to_bytes(16, "big"),
            "has_uint32": int(raw["has_uint32"]), "uinteger": int(raw["uinteger"])}


def rng_from_state(state: dict) -> np.random.Generator:
    bit_generator = np.random.PCG64()
    bit_generator.state = {"bit_generator": "PCG64",
                           "state": {"state": int.from_bytes(state["state"], "big"),
                                     "inc": int.from_bytes(state["inc"], "big")},
                           "has_uint32": int(state["has_uint32"]), "uinteger": int(state["uinteger"])}
    return np.random.Generator(bit_generator)


def snapshot(layer: TernaryLayer, rng: np.random.Generator) -> dict:
    """Everything needed to resume learning bit-identically: weights, rule, and RNG state."""
    return {"layer": layer.state(), "rng": rng_state(rng)}


def restore(state: dict) -> tuple[TernaryLayer, np.random.Generator]:
    return TernaryLayer.from_state(state["layer"]), rng_from_state(state["rng"])


def train_greedy(layers: list[TernaryLayer], X: np.ndarray, targets: list[np.ndarray],
                 rng: np.random.Generator, max_epochs: int, readout: str = "fire") -> list[FitHistory]:
    """Greedy layer-by-layer training: layer k is trained on the recalled output of the
    already-trained layers below it, towards its own teacher code ``targets[k]``; each layer
    stops as soon as it recalls its whole training set exactly (or after ``max_epochs``).
    With ``readout="fire"`` exact means every neuron on the right side of its threshold, which
    is stricter than a correct winner (a winner can be right by a tie-break)."""
    if len(layers) != len(targets):
        raise ParameterError("targets", f"need one teacher code per layer ({len(layers)}), got {len(targets)}")
    if readout not in ("winner", "fire"):
        raise ParameterError("readout", f"must be 'winner' or 'fire', got {readout!r}")
    histories = []
    inputs = np.asarray(X) != 0
    for layer, T in zip(layers, targets):
        T = np.asarray(T) != 0

        def recall(current, data=inputs):
            return current.winner(data) if readout == "winner" else current.fire(data)

        def exact(epoch, current, data=inputs, goal=T):
            rows_right = ((recall(current, data) != 0) == goal).all(axis=1)
            return {"epoch": epoch + 1, "recall_accuracy": float(rows_right.mean()),
                    "stop": bool(rows_right.all())}

        histories.append(layer.fit(inputs, T, rng, epochs=max_epochs, on_epoch=exact))
        inputs = recall(layer) != 0
    return histories
