"""PIM module presets: organisation, derived bandwidth/compute/capacity, validation messages."""
import pytest

from lolpim.core.errors import ParameterError
from lolpim.hardware.pim import WEIGHT_FORMAT_BITS, load_pim_module, pim_module_names, weight_bits_for


def test_presets_listed_and_unknown_name_lists_them():
    assert pim_module_names() == ["aim-gddr6", "cent-module", "lolpim-module", "lolpim-xpu-module",
                                  "neupims-hbm2-module", "neupims-module"]
    with pytest.raises(ParameterError, match="aim-gddr6, cent-module, lolpim-module, lolpim-xpu-module, "
                                                 "neupims-hbm2-module, neupims-module"):
        load_pim_module("hbm-pim")


def test_aim_timing_is_the_public_ramulator_preset():
    """docs/anchors.md section 1: GDDR6_AiM_timing, tCK 0.5 ns, nRCDRDMAC 56, nRP 32, nRAS 54, nRC 89,
    nCCD 2, nRFC 210, nREFI 3333; 4 bank groups x 4 banks, 2 KB rows, 2 KB global buffer."""
    aim = load_pim_module("aim-gddr6")
    assert (aim.tck_s, aim.n_rcd_mac, aim.n_rp, aim.n_ras, aim.n_rc, aim.n_ccd, aim.n_rfc, aim.n_refi) == \
        (0.5e-9, 56, 32, 54, 89, 2, 210, 3333)
    assert (aim.banks_per_channel, aim.row_bytes, aim.global_buffer_bytes, aim.output_register_bytes) == \
        (16, 2048, 2048, 4)


def test_lolpim_module_is_cent_hardware_plus_lolpim_buffers_and_configurable():
    spec = load_pim_module("lolpim-module")
    cent = load_pim_module("cent-module")
    assert (spec.channels, spec.banks_per_channel, spec.capacity_bytes) == (32, 16, 16 * 2 ** 30)
    assert spec.internal_bandwidth_bytes_per_s == cent.internal_bandwidth_bytes_per_s
    assert (spec.input_buffer_entries, spec.input_prefetch, spec.output_dual_port) == (4, True, True)
    smaller = spec.with_changes(channels=16)
    assert smaller.internal_bandwidth_bytes_per_s == pytest.approx(spec.internal_bandwidth_bytes_per_s / 2)


@pytest.mark.parametrize("field, value", [("channels", 0), ("n_rfc", 5000), ("tck_s", -1.0),
                                          ("link", "pcie-gen9"), ("row_bytes", 2050),
                                          ("reserved_bytes_per_channel", 2 ** 40),
                                          ("mac_energy_pj", {"16": 1.0}), ("input_prefetch", 1)])
def test_bad_fields_are_named(field, value):
    with pytest.raises(ParameterError, match=field):
        load_pim_module("aim-gddr6").with_changes(**{field: value})


def test_weight_formats():
    assert weight_bits_for("binary") == 1 and weight_bits_for("ternary") == 2
    assert weight_bits_for("shift1") == weight_bits_for("shift2") == 3
    assert weight_bits_for("int8") == 8 and weight_bits_for("bf16") == 16
    with pytest.raises(ParameterError, match="binary"):
        weight_bits_for("int4")
    assert set(WEIGHT_FORMAT_BITS.values()) == {16, 8, 3, 2, 1}


def test_specs_are_hashable_for_memoisation():
    assert hash(load_pim_module("cent-module")) == hash(load_pim_module("cent-module"))
