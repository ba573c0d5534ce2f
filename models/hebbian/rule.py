"""The ternary synapse as a Markov chain: states -1, 0, +1 and one step per presentation.

A synapse sees two things on each presentation: the activity of its presynaptic input
(``pre``: 0 or 1) and a plasticity signal from its postsynaptic neuron (``post``):

* ``POST_LTP`` (+1): the neuron is told to fire (teacher) and is not yet driven above
  its threshold plus margin;
* ``POST_LTD`` (-1): the neuron is told to stay silent and is not yet driven below its
  threshold minus margin;
* ``POST_QUIET`` (0): the neuron already answers correctly with margin; no plasticity
  (the "stop-learning" gate). With no margin configured, the teacher alone sets the
  signal and it is never quiet: the plain clamped Hebbian rule.

Given (pre, post), the synapse moves one level up with probability ``p_up(pre, post)``,
one level down with probability ``p_down(pre, post)``, and otherwise stays; at +1 an up
move and at -1 a down move leave it where it is. Nothing else enters the step: no
real-valued hidden weight, no trace of earlier states. The rule below is a
reconstruction (the paper's exact rule is not public); docs/hebbian.md explains it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lolpim.core.errors import ParameterError

POST_LTD, POST_QUIET, POST_LTP = -1, 0, 1
STATES = (-1, 0, 1)


@dataclass(frozen=True)
class TransitionRule:
    """Per-presentation move probabilities of one ternary synapse.

    p_potentiate: pre active and post LTP -> one level up (Hebb: fire together, wire together).
    p_depress:    pre active and post LTD -> one level down (homosynaptic depression).
    p_hetero_depress: pre silent and post LTP -> one level down (heterosynaptic depression;
                  0 by default, useful when inputs compete for a neuron).
    Every other (pre, post) combination leaves the synapse unchanged.
    """

    p_potentiate: float = 0.02
    p_depress: float = 0.02
    p_hetero_depress: float = 0.0

    def __post_init__(self):
        for name in ("p_potentiate", "p_depress", "p_hetero_depress"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ParameterError(name, f"must be a probability in [0, 1], got {value!r}")

    def move_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """(p_up, p_down) tables indexed [post + 1, pre]: post in (-1, 0, +1), pre in (0, 1)."""
        return self._tables

    @cached_property
    def _tables(self) -> tuple[np.ndarray, np.ndarray]:  # built once: step() runs per sample
        p_up = np.zeros((3, 2))
        p_down = np.zeros((3, 2))
        p_up[POST_LTP + 1, 1] = self.p_potentiate
        p_down[POST_LTD + 1, 1] = self.p_depress
        p_down[POST_LTP + 1, 0] = self.p_hetero_depress
        p_up.flags.writeable = p_down.flags.writeable = False
        return p_up, p_down

    def matrix(self, pre: int, post: int) -> np.ndarray:
        """The declared 3x3 transition matrix for one (pre, post): rows from-state, columns
        to-state, both ordered (-1, 0, +1). Rows sum to 1."""
        if pre not in (0, 1):
            raise ParameterError("pre", f"must be 0 or 1, got {pre!r}")
        if post not in (POST_LTD, POST_QUIET, POST_LTP):
            raise ParameterError("post", f"must be -1, 0 or +1, got {post!r}")
        p_up, p_down = self.move_probabilities()
        up, down = p_up[post + 1, pre], p_down[post + 1, pre]
        m = np.zeros((3, 3))
        for i in range(3):
            m[i, min(i + 1, 2)] += up
            m[i, max(i - 1, 0)] += down
            m[i, i] += 1.0 - up - down
        return m


def step(weights: np.ndarray, pre: np.ndarray, post: np.ndarray, uniforms: np.ndarray,
         rule: TransitionRule) -> np.ndarray:
    """One Markov step for synapses given one uniform draw each (all arrays broadcast).

    A synapse moves up if u < p_up, down if p_up <= u < p_up + p_down. The rule never gives
    one (pre, post) both an up and a down probability, so one draw per synapse suffices.
    """
    p_up, p_down = rule.move_probabilities()
    post_idx = np.asarray(post, dtype=np.intp) + 1
    pre_idx = np.asarray(pre, dtype=np.intp)
    up = p_up[post_idx, pre_idx]
    down = p_down[post_idx, pre_idx]
    w = np.asarray(weights, dtype=np.int8)
    go_up = (uniforms < up) & (w < 1)          # saturating: +1 stays on an up move
    go_down = (uniforms >= up) & (uniforms < up + down) & (w > -1)
    return (w + go_up.view(np.int8) - go_down.view(np.int8)).astype(np.int8)


def transition_counts(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """3x3 counts of (from-state, to-state) pairs over synapses that changed; diagonal is 0."""
    before = np.asarray(before).ravel()
    after = np.asarray(after).ravel()
    changed = before != after
    flat = (before[changed].astype(np.intp) + 1) * 3 + (after[changed] + 1)
    return np.bincount(flat, minlength=9).reshape(3, 3)
