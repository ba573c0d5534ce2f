"""Packed low-bit export: sizes, round trip, and every weight exactly a level times a."""
from dataclasses import replace

import numpy as np
import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.cbp.experiment import DigitsSetup, export_result, pretrained_digits, run_cbp
from lolpim.models.cbp.export import PackedLayer, from_arrays, load_packed, pack_layer, to_arrays
from lolpim.models.cbp.levels import CONSTRAINTS, level_set

BITS = {"binary": 1, "ternary": 2, "shift1": 3, "shift2": 3}


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_bits_and_round_trip(name):
    w = np.random.default_rng(3).normal(0, 0.1, size=(33, 17))
    layer = pack_layer("l", w, name, 0.08)
    assert layer.weight_bits == BITS[name]
    assert len(layer.data) == -(-33 * 17 * BITS[name] // 8)
    again = from_arrays(to_arrays([layer]))[0]
    assert again == layer
    assert np.array_equal(again.weights(), level_set(name).round(w, 0.08))


def test_corrupt_length_is_rejected():
    with pytest.raises(ParameterError, match="data"):
        PackedLayer("l", "ternary", (4, 4), 0.1, b"\x00")
    with pytest.raises(ParameterError, match="^'constraint': got 'quinary'; allowed values: 'binary'"):
        PackedLayer("l", "quinary", (4, 4), 0.1, b"\x00" * 4)
    with pytest.raises(ParameterError, match="^'scale': "):
        PackedLayer("l", "ternary", (4, 4), float("inf"), b"\x00" * 4)


@pytest.fixture(scope="module")
def tiny_pretrained():
    setup = DigitsSetup(hidden_sizes=(16, 16, 16), pretrain_epochs=5, cbp_epochs=6)
    setup = replace(setup, settings=replace(setup.settings, p_max_epochs=2))
    return setup, pretrained_digits(0, setup)


@pytest.mark.parametrize("name", sorted(CONSTRAINTS))
def test_exported_trained_weights_take_only_allowed_values(name, tiny_pretrained, tmp_path):
    setup, pre = tiny_pretrained
    result = run_cbp(pre, name, setup)
    path = tmp_path / "w.npz"
    np.savez(path, **to_arrays(export_result(result)))
    loaded = load_packed(path)
    assert [layer.name for layer in loaded] == ["layer1", "layer2"]
    allowed = level_set(name).levels
    for layer, i in zip(loaded, result.constrained_layers):
        w = layer.weights()
        assert layer.scale == result.scales[i] == pytest.approx(np.mean(np.abs(pre.net.weights[i])))
        # exactly an allowed value times the scale, bit for bit
        assert np.all(np.isin(w, allowed * layer.scale))
        assert np.array_equal(w, result.quantised.weights[i])


def test_a_level_set_is_checked_where_it_is_declared():
    from lolpim.models.cbp.levels import LevelSet
    with pytest.raises(ParameterError, match="^'weight_bits': got 9; allowed range: 1 .. 8"):
        LevelSet("wide", (-1.0, 1.0), 9)           # the codes are uint8
    with pytest.raises(ParameterError, match="^'unit_levels': need at least two strictly ascending"):
        LevelSet("flat", (1.0, 1.0), 1)
    with pytest.raises(ParameterError, match="^'weight_bits': 1 bits cannot index 3 levels"):
        LevelSet("three", (-1.0, 0.0, 1.0), 1)
