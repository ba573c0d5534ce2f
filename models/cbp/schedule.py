"""The quasi-static schedule of CBP: when to raise the multipliers and tighten the window.

Weights descend the Lagrangian every step; multipliers and g change at most once per
epoch, and only when the epoch's summed Lagrangian has stopped decreasing (the weights
have settled for the current lambda and g) or after ``p_max`` epochs without an update.
Updating lambda on every step instead would chase a moving target before the weights
could follow it.
"""
from __future__ import annotations

import math

from lolpim.core import schema
from lolpim.core.errors import ParameterError

from lolpim.models.cbp.constraint import g_at


@schema.frozen
class CBPSettings:
    lr_weights: float = schema.field(default=0.01, gt=0.0)      # SGD learning rate of the latent weights
    momentum: float = schema.field(default=0.9, min=0.0)        # and below 1
    eta_lambda: float = schema.field(default=0.1, gt=0.0)       # multiplier ascent rate: lambda += eta_lambda * cs
    p_max_epochs: int = schema.field(default=20, min=1)         # longest stretch without a lambda/g update
    lr_drop_at_g: float = 20.0                          # weight LR x lr_drop_factor once g reaches this
    lr_drop_factor: float = schema.field(default=0.1, gt=0.0)
    grad_clip: float = schema.field(default=1.0, gt=0.0)        # every gradient element clipped to [-1, 1]
    # latent weights kept in [-clamp*a, +clamp*a]; >= 1 as the levels lie in [-a, a]
    clamp_scales: float = schema.field(default=2.0, min=1.0)
    batch_size: int = schema.field(default=64, min=1)
    window: bool = True                # False: full constraint from the start (ablation)
    use_constraint: bool = True        # False: plain rounding + STE fine-tuning (ablation)

    def __post_init__(self):   # after the declared ranges
        if not self.momentum < 1:
            raise ParameterError("momentum", f"got {self.momentum!r}; allowed range: >= 0 and < 1")


class QuasiStaticSchedule:
    """Tracks g and decides, at each epoch end, whether lambda and g move on."""

    def __init__(self, settings: CBPSettings):
        self.settings = settings
        self.step = 0                      # number of lambda/g updates so far
        self.previous_lagrangian = math.inf
        self.epochs_since_update = 0

    @property
    def g(self) -> float:
        return g_at(self.step) if self.settings.window else math.inf

    @property
    def lr_weights(self) -> float:
        s = self.settings
        dropped = s.window and self.g >= s.lr_drop_at_g
        # without a window g is infinite from the start; drop the LR after the same
        # number of updates as a windowed run would need to reach lr_drop_at_g
        dropped = dropped or (not s.window and g_at(self.step) >= s.lr_drop_at_g)
        return s.lr_weights * (s.lr_drop_factor if dropped else 1.0)

    def end_epoch(self, lagrangian_sum: float) -> bool:
        """Record the epoch's summed Lagrangian; True means g has moved on: update lambda now."""
        self.epochs_since_update += 1
        stalled = lagrangian_sum >= self.previous_lagrangian
        self.previous_lagrangian = lagrangian_sum
        if stalled or self.epochs_since_update >= self.settings.p_max_epochs:
            self.step += 1
            self.epochs_since_update = 0
            # the Lagrangian jumps when lambda grows; compare the next epoch with itself only
            self.previous_lagrangian = math.inf
            return True
        return False
