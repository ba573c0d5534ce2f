"""Quasi-static schedule: lambda and g move only when the Lagrangian stalls or after p_max."""
import math

import pytest

from lolpim.core.errors import ParameterError
from lolpim.models.cbp.schedule import CBPSettings, QuasiStaticSchedule


def test_update_when_lagrangian_stops_decreasing():
    s = QuasiStaticSchedule(CBPSettings(p_max_epochs=20))
    assert [s.end_epoch(x) for x in (10.0, 9.0, 8.0)] == [False, False, False]
    assert s.end_epoch(8.5) is True and s.g == 2.0
    # right after an update the Lagrangian jumps; the next epoch is never counted as a stall
    assert s.end_epoch(50.0) is False


def test_update_after_p_max_even_while_decreasing():
    s = QuasiStaticSchedule(CBPSettings(p_max_epochs=5))
    flags = [s.end_epoch(100.0 - k) for k in range(10)]
    assert flags == [False] * 4 + [True] + [False] * 4 + [True]
    assert s.g == 3.0


def test_lr_drops_tenfold_when_g_reaches_20():
    s = QuasiStaticSchedule(CBPSettings(lr_weights=0.01, p_max_epochs=1))
    seen = []
    for _ in range(12):
        seen.append((s.g, s.lr_weights))
        s.end_epoch(1.0)
    assert all(lr == 0.01 for g, lr in seen if g < 20)
    assert all(lr == pytest.approx(0.001) for g, lr in seen if g >= 20)


def test_no_window_variant_has_infinite_g_and_same_lr_drop_timing():
    s = QuasiStaticSchedule(CBPSettings(window=False, p_max_epochs=1))
    assert s.g == math.inf and s.lr_weights == 0.01
    for _ in range(10):
        s.end_epoch(1.0)
    assert s.lr_weights == pytest.approx(0.001)


@pytest.mark.parametrize("field,value", [("momentum", 1.0), ("p_max_epochs", 0),
                                         ("eta_lambda", 0.0), ("clamp_scales", 0.5)])
def test_settings_validated(field, value):
    with pytest.raises(ParameterError, match=field):
        CBPSettings(**{field: value})
