"""CBP on digits with a small net and a short schedule (full runs: `lolpim cbp`, docs/cbp.md)."""
from dataclasses import replace

import numpy as np
import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.cbp.experiment import QUICK_SETUP, pretrained_digits, run_cbp
from lolpim.models.cbp.mlp import MLP
from lolpim.models.cbp.trainer import post_train

SMALL = QUICK_SETUP   # 32-32-32 hidden, 20 pretraining epochs, 60 CBP epochs, p_max = 3


@pytest.fixture(scope="module")
def runs():
    out = {}
    for seed in range(3):
        pre = pretrained_digits(seed, SMALL)
        for name in ("binary", "ternary", "shift1", "shift2"):
            out[seed, name] = (pre, run_cbp(pre, name, SMALL))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", ["binary", "ternary", "shift1", "shift2"])
def test_within_three_points_of_full_precision_mean_over_three_seeds(runs, name):
    """Issue 7 acceptance: each constraint within 3 points of the FP net (mean of 3 seeds)."""
    drops = [pre.fp_test_acc - result.final["test_acc"]
             for (seed, n), (pre, result) in runs.items() if n == name]
    assert len(drops) == 3
    assert np.mean(drops) <= 0.03, drops


@pytest.mark.slow
@pytest.mark.parametrize("name", ["binary", "ternary", "shift1", "shift2"])
def test_cfs_falls_as_g_grows(runs, name):
    _, result = runs[0, name]
    hist = result.history
    at_update = [h for h in hist if h["updated"]]
    assert at_update[-1]["g"] >= 100                    # the schedule went well past g = 20
    assert hist[-1]["cfs"] < 0.1 * hist[0]["cfs"]
    cfs = [h["cfs"] for h in at_update]
    assert all(b <= a + 1e-3 for a, b in zip(cfs, cfs[1:])), cfs
    lr = [h["lr"] for h in hist]
    assert lr[0] == SMALL.settings.lr_weights and lr[-1] == pytest.approx(0.1 * lr[0])


@pytest.mark.slow
def test_multipliers_only_grow_and_never_go_negative(runs):
    lam = [h["mean_lambda"] for h in runs[0, "binary"][1].history]
    assert lam[0] >= 0 and all(b >= a for a, b in zip(lam, lam[1:])) and lam[-1] > 0


def test_same_seed_same_numbers():
    setup = replace(SMALL, hidden_sizes=(8, 8, 8), pretrain_epochs=3, cbp_epochs=4)
    a = run_cbp(pretrained_digits(5, setup), "ternary", setup)
    b = run_cbp(pretrained_digits(5, setup), "ternary", setup)
    assert a.history == b.history
    assert all(np.array_equal(x, y) for x, y in zip(a.latent.weights, b.latent.weights))


@pytest.mark.slow
def test_first_and_last_layers_stay_full_precision(runs):
    pre, result = runs[0, "binary"]
    assert result.constrained_layers == (1, 2)
    assert len(np.unique(result.quantised.weights[0])) > 100
    assert len(np.unique(result.quantised.weights[-1])) > 100


def test_two_layer_net_is_rejected():
    net = MLP.initialise((64, 10, 10), np.random.default_rng(0))
    with pytest.raises(ParameterError, match="layer"):
        post_train(net, "binary", (None, None, None, None), 1, np.random.default_rng(0))
