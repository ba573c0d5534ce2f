"""The ternary synapse is a Markov chain: weights stay in {-1, 0, +1}, and the next state's
distribution depends only on (current state, pre, post), as declared by TransitionRule.matrix."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer, online_update
from lolpim.models.hebbian.rule import TransitionRule, step, transition_counts

probability = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(p_pot=probability, p_dep=probability, p_het=probability,
       margin=st.one_of(st.none(), st.floats(0.0, 5.0)), threshold=st.floats(-3.0, 3.0),
       seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 12), n_out=st.integers(1, 6),
       samples=st.integers(1, 30))
def test_weights_stay_ternary_for_any_rule_and_data(p_pot, p_dep, p_het, margin, threshold, seed,
                                                    n_in, n_out, samples):
    rng = np.random.default_rng(seed)
    config = LayerConfig(n_in, n_out, TransitionRule(p_pot, p_dep, p_het), threshold, margin)
    layer = TernaryLayer(config)
    X = rng.integers(0, 2, (samples, n_in))
    T = rng.integers(0, 2, (samples, n_out))
    history = layer.fit(X, T, rng, epochs=2)
    assert set(np.unique(layer.weights)) <= {-1, 0, 1}
    assert layer.weights.dtype == np.int8
    # every change is one level: only -1<->0 and 0<->+1 ever appear
    total = sum(history.counts_per_epoch)
    assert total[0, 2] == 0 and total[2, 0] == 0
    assert history.transitions_per_sample.sum() == total.sum()


@pytest.mark.parametrize("pre", [0, 1])
@pytest.mark.parametrize("post", [-1, 0, 1])
def test_declared_matrix_is_stochastic_and_one_level(pre, post):
    m = TransitionRule(0.3, 0.2, 0.1).matrix(pre, post)
    assert np.allclose(m.sum(axis=1), 1.0) and (m >= 0).all()
    assert m[0, 2] == 0 and m[2, 0] == 0
    if post == 0:
        assert np.array_equal(m, np.eye(3))


def test_step_matches_declared_matrix_from_every_state():
    rule = TransitionRule(0.3, 0.2, 0.1)
    rng = np.random.default_rng(1)
    n = 60_000
    for pre in (0, 1):
        for post in (-1, 0, 1):
            declared = rule.matrix(pre, post)
            for i, w in enumerate((-1, 0, 1)):
                after = step(np.full(n, w), pre, post, rng.random(n), rule)
                freq = np.array([(after == s).mean() for s in (-1, 0, 1)])
                sigma = np.sqrt(declared[i] * (1 - declared[i]) / n) + 1e-12
                assert (np.abs(freq - declared[i]) <= 5 * sigma + 1e-9).all(), (pre, post, w, freq, declared[i])


def _run_chain(rule, steps, width, seed):
    """Run the real learner (ungated: post is +1 on row 0, -1 on row 1) and record states."""
    rng = np.random.default_rng(seed)
    config = LayerConfig(width, 2, rule, margin=None)
    weights = np.zeros((2, width), dtype=np.int8)
    states, pres = [weights.copy()], []
    target = np.array([1, 0])
    for _ in range(steps):
        pre = rng.integers(0, 2, width)
        weights = online_update(weights, pre, target, rng, config).weights
        states.append(weights)
        pres.append(pre)
    return np.array(states), np.array(pres)


def test_empirical_transitions_match_declared_and_ignore_history():
    """Estimate P(w_t+1 | w_t, pre, post) from the learner itself, and the same probability
    further split by the previous state w_t-1 and the previous input: every split must agree
    with the declared matrix (a chain with memory would differ between the splits)."""
    rule = TransitionRule(0.3, 0.2, 0.1)
    states, pres = _run_chain(rule, steps=120, width=3000, seed=7)
    prev, cur, nxt = states[:-2], states[1:-1], states[2:]
    pre_now = pres[1:][:, None, :].repeat(2, axis=1)
    pre_before = pres[:-1][:, None, :].repeat(2, axis=1)
    post = np.broadcast_to(np.array([1, -1])[None, :, None], cur.shape)
    checked = 0
    for p in (0, 1):
        for q in (-1, 1):
            declared = rule.matrix(p, q)
            for i, w in enumerate((-1, 0, 1)):
                base = (cur == w) & (pre_now == p) & (post == q)
                for history in [base] + [base & (prev == v) for v in (-1, 0, 1)] + \
                        [base & (pre_before == b) for b in (0, 1)]:
                    n = int(history.sum())
                    if n < 400:
                        continue
                    freq = np.array([(nxt[history] == s).mean() for s in (-1, 0, 1)])
                    sigma = np.sqrt(declared[i] * (1 - declared[i]) / n) + 1e-12
                    assert (np.abs(freq - declared[i]) <= 5 * sigma + 1e-9).all(), (p, q, w, n, freq, declared[i])
                    checked += 1
    assert checked >= 30  # the splits really were populated


def test_quiet_neurons_do_not_change_and_draw_nothing():
    """A neuron past its margin is quiet: its synapses keep their state, and no random number is used."""
    config = LayerConfig(4, 1, TransitionRule(1.0, 1.0), threshold=0.0, margin=1.0)
    weights = np.array([[1, 1, 0, -1]], dtype=np.int8)
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    result = online_update(weights, [1, 1, 0, 0], [1], rng, config)  # drive 2 >= 0 + 1: quiet
    assert np.array_equal(result.weights, weights) and result.transitions == 0
    assert rng.bit_generator.state == before


def test_certain_rule_is_deterministic_hebb():
    """With probability 1 the rule is plain Hebb: pre&post -> up, pre&not-post -> down."""
    config = LayerConfig(3, 2, TransitionRule(1.0, 1.0), margin=None)
    result = online_update(np.zeros((2, 3), np.int8), [1, 0, 1], [1, 0], np.random.default_rng(0), config)
    assert result.weights.tolist() == [[1, 0, 1], [-1, 0, -1]]
    assert result.counts.tolist() == [[0, 0, 0], [2, 0, 2], [0, 0, 0]]


def test_transition_counts_and_bad_parameters():
    assert transition_counts([-1, 0, 1, 0], [0, 1, 1, -1]).tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]
    with pytest.raises(ParameterError, match="p_depress"):
        TransitionRule(0.1, 1.5)
    with pytest.raises(ParameterError, match="post"):
        TransitionRule().matrix(1, 2)
    with pytest.raises(ParameterError, match="n_in"):
        LayerConfig(0, 3)
    with pytest.raises(ParameterError, match="weights"):
        TernaryLayer(LayerConfig(2, 1), weights=[[2, 0]])
