"""Streaming (one sample at a time, in place or pure) and batched training give the same
weights and transition counts for the same seed; learner state round-trips through msgpack."""
import msgpack
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lolpim.models.hebbian.network import (LayerConfig, TernaryLayer, online_update, restore, rng_from_state,
                                   rng_state, snapshot)
from lolpim.models.hebbian.rule import TransitionRule


def _data(seed, samples, n_in, n_out):
    rng = np.random.default_rng(seed + 1)
    return rng.integers(0, 2, (samples, n_in)), rng.integers(0, 2, (samples, n_out))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), samples=st.integers(1, 40), n_in=st.integers(1, 16),
       n_out=st.integers(1, 8), epochs=st.integers(1, 3), margin=st.one_of(st.none(), st.floats(0, 3)),
       p_het=st.sampled_from([0.0, 0.3]))
def test_streaming_and_batched_agree(seed, samples, n_in, n_out, epochs, margin, p_het):
    X, T = _data(seed, samples, n_in, n_out)
    config = LayerConfig(n_in, n_out, TransitionRule(0.4, 0.3, p_het), threshold=0.5, margin=margin)

    batched = TernaryLayer(config)
    history = batched.fit(X, T, np.random.default_rng(seed), epochs=epochs)

    # streaming: the same presentation order, one sample at a time, never holding the data set
    rng_stream = np.random.default_rng(seed)
    streamed = TernaryLayer(config)
    pure_weights = np.zeros((n_out, n_in), np.int8)
    rng_pure = np.random.default_rng(seed)
    per_sample, per_sample_pure = [], []
    for _ in range(epochs):
        order = rng_stream.permutation(samples)
        assert np.array_equal(order, rng_pure.permutation(samples))
        for i in order:
            per_sample.append(int(streamed.learn(X[i], T[i], rng_stream).sum()))
            result = online_update(pure_weights, X[i], T[i], rng_pure, config)
            pure_weights = result.weights
            per_sample_pure.append(result.transitions)
    assert np.array_equal(batched.weights, streamed.weights)
    assert np.array_equal(batched.weights, pure_weights)
    assert history.transitions_per_sample.tolist() == per_sample == per_sample_pure


def test_online_update_does_not_touch_its_input():
    config = LayerConfig(5, 2, TransitionRule(1.0, 1.0), margin=None)
    weights = np.zeros((2, 5), np.int8)
    result = online_update(weights, [1, 1, 0, 0, 1], [0, 1], np.random.default_rng(0), config)
    assert not weights.any() and result.weights.any()


def test_snapshot_round_trips_through_msgpack_and_resumes_identically():
    X, T = _data(5, 30, 12, 4)
    config = LayerConfig(12, 4, TransitionRule(0.3, 0.3, 0.1), threshold=0.0, margin=1.5)
    layer, rng = TernaryLayer(config), np.random.default_rng(11)
    layer.fit(X, T, rng, epochs=2)

    blob = msgpack.packb(snapshot(layer, rng), use_bin_type=True)
    copy, copy_rng = restore(msgpack.unpackb(blob, raw=False))
    assert copy.config == layer.config and np.array_equal(copy.weights, layer.weights)

    layer.fit(X, T, rng, epochs=2)       # the original goes on...
    copy.fit(X, T, copy_rng, epochs=2)   # ...and so does the restored copy
    assert np.array_equal(copy.weights, layer.weights)
    assert rng.random() == copy_rng.random()


def test_rng_state_is_plain_data():
    rng = np.random.default_rng(2**100 + 3)
    rng.random(7)
    state = rng_state(rng)
    assert all(isinstance(v, (str, int, bytes)) for v in state.values())
    assert rng_from_state(state).bit_generator.state == rng.bit_generator.state
