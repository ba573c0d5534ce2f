"""CBP as a post-training step for any ``torch.nn.Module`` (optional extra: torch).

The adapter constrains the module's Linear and Conv layers (all but the first and the
last by default) without replacing them: before each forward pass it writes the
rounded weights into the layer, after the backward pass it puts the latent weights
back, so the gradient computed at the rounded weights lands on the latent ones
(straight through). The constraint term, the multiplier ascent and the quasi-static
schedule are the numpy core's, applied to each layer's weights as a flat array.

torch is imported lazily so that ``import lolpim.models.cbp`` never needs it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lolpim.core.errors import ParameterError

from lolpim.models.cbp.constraint import constraint, constraint_failure_score
from lolpim.models.cbp.export import PackedLayer, pack_layer
from lolpim.models.cbp.levels import layer_scale, level_set
from lolpim.models.cbp.schedule import CBPSettings, QuasiStaticSchedule


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError("the CBP torch adapter needs PyTorch: pip install 'lolpim[torch]'") from exc
    return torch


@dataclass
class TorchCBPResult:
    constraint: str
    layer_names: list[str]          # qualified names of the constrained modules
    scales: dict[str, float]
    packed: list[PackedLayer]       # GEMV view (k_in, n_out) of each constrained layer
    history: list[dict] = field(default_factory=list)


def weight_layers(model) -> list[tuple[str, Any]]:   # (name, torch.nn.Module)
    """(name, module) of every Linear and Conv layer, in registration order."""
    torch = _torch()
    kinds = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]


def _gemv_view(weight: np.ndarray) -> np.ndarray:
    """torch keeps (out, in, *kernel); the PIM GEMV streams (k_in, n_out)."""
    return weight.reshape(weight.shape[0], -1).T


def constrain(model, constraint_name: str, batches, loss_fn, epochs: int,
              settings: CBPSettings = CBPSettings(), keep_first_last: bool = True,
              on_epoch=None) -> TorchCBPResult:
    """Post-train ``model`` in place with CBP, leave its constrained layers on their levels.

    ``batches`` is re-iterated every epoch and yields (inputs, targets), e.g. a DataLoader;
    ``loss_fn(model(inputs), targets)`` returns a scalar tensor.
    """
    torch = _torch()
    if epochs < 1:
        raise ParameterError("epochs", "must be >= 1")
    levels = level_set(constraint_name)
    layers = weight_layers(model)
    if keep_first_last:
        if len(layers) < 3:
            raise ParameterError("model", "needs >= 3 Linear/Conv layers when the first and last "
                                          "stay full precision (or pass keep_first_last=False)")
        layers = layers[1:-1]
    if not layers:
        raise ParameterError("model", "has no Linear or Conv layer to constrain")
    names = [name for name, _ in layers]
    params = [m.weight for _, m in layers]
    scales = [layer_scale(p.detach().cpu().numpy()) for p in params]
    lambdas = [np.zeros(tuple(p.shape)) for p in params]
    schedule = QuasiStaticSchedule(settings)
    optimiser = torch.optim.SGD(model.parameters(), lr=settings.lr_weights,
                                momentum=settings.momentum)
    history: list[dict] = []

    def latent_np(p):
        return p.detach().cpu().numpy().astype(np.float64)

    def ascend_multipliers():   # with the window as it stands now (see trainer.post_train)
        if settings.use_constraint:
            for i, (p, a) in enumerate(zip(params, scales)):
                lambdas[i] += settings.eta_lambda * constraint(latent_np(p), levels, a, schedule.g)[0]

    def rounded(p, a):
        return torch.as_tensor(levels.round(latent_np(p), a), dtype=p.dtype, device=p.device)

    ascend_multipliers()
    model.train()
    for epoch in range(epochs):
        g = schedule.g
        for group in optimiser.param_groups:
            group["lr"] = schedule.lr_weights
        lagrangian = loss_sum = 0.0
        n_batches = 0
        for inputs, targets in batches:
            latent = [p.detach().clone() for p in params]
            with torch.no_grad():
                for p, a in zip(params, scales):
                    p.copy_(rounded(p, a))
            optimiser.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            with torch.no_grad():
                for p, saved in zip(params, latent):
                    p.copy_(saved)   # straight through: the gradient at W_q now drives W
            loss_value = float(loss.detach())
            lagrangian += loss_value
            loss_sum += loss_value
            n_batches += 1
            if settings.use_constraint:
                for p, a, lam in zip(params, scales, lambdas):
                    cs, slope = constraint(latent_np(p), levels, a, g)
                    p.grad += torch.as_tensor(lam * slope, dtype=p.dtype, device=p.device)
                    lagrangian += float(np.sum(lam * cs))
            torch.nn.utils.clip_grad_value_(model.parameters(), settings.grad_clip)
            optimiser.step()
            with torch.no_grad():
                for p, a in zip(params, scales):
                    p.clamp_(-settings.clamp_scales * a, settings.clamp_scales * a)
        updated = schedule.end_epoch(lagrangian)
        if updated:
            ascend_multipliers()
        sizes = [p.numel() for p in params]
        cfs = float(np.average([constraint_failure_score(latent_np(p), levels, a)
                                for p, a in zip(params, scales)], weights=sizes))
        record = {"epoch": epoch, "g": g, "lagrangian": lagrangian,
                  "loss": loss_sum / max(n_batches, 1), "cfs": cfs, "updated": updated}
        history.append(record)
        if on_epoch:
            on_epoch(record)

    packed = []
    with torch.no_grad():
        for name, p, a in zip(names, params, scales):
            packed.append(pack_layer(name, _gemv_view(latent_np(p)), constraint_name, a))
            p.copy_(rounded(p, a))   # the model now holds exactly the deployable weights
    return TorchCBPResult(constraint_name, names, dict(zip(names, scales)), packed, history)
