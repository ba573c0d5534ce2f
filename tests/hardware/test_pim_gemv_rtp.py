"""MAC -> PRE (tRTP) in the PIM GEMV schedule.

Source: the AiM timing table of the CENT artifact's Ramulator 2 fork (arkhadem/aim_simulator
src/dram/impl/GDDR6.cpp): MAC16 -> PRE/PREA must wait nRTP, 12 tCK in GDDR6_AiM_timing. A row
therefore stays open 12 tCK after its last MAC, not one column slot (2 tCK).
"""
import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import gemv_channel_schedule, load_pim_module, reference_channel_schedule

PRESETS = ("aim-gddr6", "cent-module", "lolpim-module", "neupims-module")


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_carries_the_aim_trtp(name):
    assert load_pim_module(name).n_rtp == 12


@pytest.mark.parametrize("name", ("cent-module", "lolpim-module"))
def test_trtp_delays_each_later_pass_by_its_excess_over_one_column_slot(name):
    """One K tile (1024 inputs) and three outputs per bank: three passes on three rows. Passes 2
    and 3 start tRCD after their ACT, so each earlier PRE that waits tRTP instead of one slot
    after the last MAC moves the rest of the GEMV by n_rtp - n_ccd = 10 tCK: 20 tCK in all,
    in the command-level reference and in the closed form alike (refresh off)."""
    spec = load_pim_module(name).with_changes(n_refi=10 ** 9)
    old = spec.with_changes(n_rtp=spec.n_ccd)          # PRE one slot after the last MAC
    outputs = [3] * spec.banks_per_channel
    ref_new = reference_channel_schedule(spec, 1024, outputs)["time_tck"]
    ref_old = reference_channel_schedule(old, 1024, outputs)["time_tck"]
    assert ref_new - ref_old == 2 * (spec.n_rtp - spec.n_ccd)
    assert int(gemv_channel_schedule(spec, 1024, 3)["time_tck"]) == ref_new
    assert int(gemv_channel_schedule(old, 1024, 3)["time_tck"]) == ref_old


def test_trtp_must_be_a_positive_integer():
    with pytest.raises(ParameterError) as err:
        load_pim_module("cent-module").with_changes(n_rtp=0)
    assert err.value.field == "n_rtp"
