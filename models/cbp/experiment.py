"""The digits experiment: full-precision pretraining, then CBP per constraint and seed.

Pure functions returning numbers and histories; the CLI and the benchmark decide what
to print, plot and write.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from lolpim.core.errors import ParameterError

from lolpim.models.cbp.digits import load_digits_split
from lolpim.models.cbp.export import PackedLayer, pack_layer
from lolpim.models.cbp.levels import CONSTRAINTS, layer_scale, level_set
from lolpim.models.cbp.mlp import MLP, accuracy, pretrain
from lolpim.models.cbp.schedule import CBPSettings
from lolpim.models.cbp.trainer import CBPResult, hidden_layers, post_train

# the paper's ablation (ResNet-18 binary, ImageNet top-1): CBP 66.6, rounding +
# fine-tuning 64.6, CBP without the unconstrained window 60.2
ABLATIONS: dict[str, dict] = {
    "cbp": {},
    "round_finetune": {"use_constraint": False},
    "no_window": {"window": False},
}


@dataclass(frozen=True)
class DigitsSetup:
    hidden_sizes: tuple[int, ...] = (128, 128, 128)
    pretrain_epochs: int = 40
    pretrain_lr: float = 0.05
    cbp_epochs: int = 300
    settings: CBPSettings = field(default_factory=CBPSettings)

    def __post_init__(self):
        if len(self.hidden_sizes) < 2:
            raise ParameterError("hidden_sizes", "need >= 2 hidden layers so that at least one "
                                                 "weight layer sits between the full-precision "
                                                 "first and last layers")
        if self.pretrain_epochs < 1 or self.cbp_epochs < 1:
            raise ParameterError("cbp_epochs", "pretrain_epochs and cbp_epochs must be >= 1")


@dataclass(frozen=True)
class Pretrained:
    seed: int
    data: tuple
    net: MLP
    fp_test_acc: float


def pretrained_digits(seed: int, setup: DigitsSetup = DigitsSetup(), on_epoch=None) -> Pretrained:
    data = load_digits_split(seed)
    rng = np.random.default_rng(seed)
    sizes = (data[0].shape[1], *setup.hidden_sizes, 10)
    net = pretrain(MLP.initialise(sizes, rng), data[0], data[1], setup.pretrain_epochs, rng,
                   lr=setup.pretrain_lr, on_epoch=on_epoch)
    return Pretrained(seed, data, net, accuracy(net.weights, net.biases, data[2], data[3]))


def rounded_accuracy(pre: Pretrained, constraint: str) -> float:
    """Test accuracy of the pretrained net with its hidden layers simply rounded (no training)."""
    levels = level_set(constraint)
    weights = [levels.round(w, layer_scale(w)) if i in hidden_layers(pre.net) else w
               for i, w in enumerate(pre.net.weights)]
    return accuracy(weights, pre.net.biases, pre.data[2], pre.data[3])


def run_cbp(pre: Pretrained, constraint: str, setup: DigitsSetup = DigitsSetup(),
            variant: str = "cbp", on_epoch=None) -> CBPResult:
    if variant not in ABLATIONS:
        raise ParameterError("variant", f"'{variant}' is not one of {', '.join(ABLATIONS)}")
    settings = replace(setup.settings, **ABLATIONS[variant])
    # a separate stream per constraint and variant keeps each run reproducible on its own
    rng = np.random.default_rng([pre.seed, sorted(CONSTRAINTS).index(constraint),
                                 sorted(ABLATIONS).index(variant)])
    return post_train(pre.net, constraint, pre.data, setup.cbp_epochs, rng, settings, on_epoch)


def export_result(result: CBPResult) -> list[PackedLayer]:
    """The constrained layers of a CBP run, packed with their fixed scales."""
    return [pack_layer(f"layer{i}", result.latent.weights[i], result.constraint, result.scales[i])
            for i in result.constrained_layers]


# A few-second configuration (validation anchors, tests): a narrow net and p_max = 3
# so that the window schedule runs past g = 100 within 60 epochs.
QUICK_SETUP = DigitsSetup(hidden_sizes=(32, 32, 32), pretrain_epochs=20, cbp_epochs=60,
                          settings=CBPSettings(p_max_epochs=3))
