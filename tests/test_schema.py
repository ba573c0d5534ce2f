"""core/schema.py, the one validation layer: one declaration checks a config key, a preset
entry, a message field and a CLI flag, with one problem text."""
import argparse
import enum

import msgpack
import pytest
from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.kernel.messages import decode, message
from lolpim.core import presets, schema
from lolpim.core.errors import ConfigError, FlagError, ParameterError
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.orchestration import config
from lolpim.orchestration.flags import add_config_flags, config_from_args


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@frozen
class Knob:
    rate_hz: float = field(default=1.0, min=0.0, max=100.0, unit="Hz", doc="how often")
    count: int = field(default=3, gt=0)
    mode: Mode = Mode.FAST
    ids: tuple[int, ...] = field(default=(), min=0, max_len=3)
    note: str | None = None

    def __post_init__(self):
        if self.count > 10 and self.rate_hz > 50:
            raise FieldProblem("count", "above 10 needs {rate_hz} <= 50")


@message
class KnobMessage:
    rate_hz: float = field(default=1.0, min=0.0, max=100.0)


PROBLEM = "got 500.0; allowed range: 0.0 .. 100.0"


def test_one_declaration_one_problem_text_in_every_context(tmp_path):
    with pytest.raises(ConfigError) as err:
        config.load(Knob, None, ["rate_hz=500"])
    assert str(err.value) == f"config key 'rate_hz': {PROBLEM}"
    (tmp_path / "k.toml").write_text("rate_hz = 500\n")
    with pytest.raises(ParameterError) as err:
        presets.load_preset_table(tmp_path, "k", Knob, "--knob", "knob preset")
    assert str(err.value) == f"'rate_hz': {PROBLEM} (in knob preset file k.toml)"
    with pytest.raises(MessageError) as err:
        decode("a", "knob", KnobMessage, msgpack.packb({"rate_hz": 500.0}))
    assert str(err.value) == f"actor 'a' rejected message kind 'knob': field 'rate_hz' {PROBLEM}"
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Knob)
    with pytest.raises(FlagError) as err:
        config_from_args(Knob, parser.parse_args(["--rate-hz", "500"]))
    assert str(err.value) == f"--rate-hz: {PROBLEM}"
    with pytest.raises(ParameterError) as err:
        Knob(rate_hz=500.0)
    assert str(err.value) == f"'rate_hz': {PROBLEM}"


@pytest.mark.parametrize("data, message", [
    ({"count": 0}, "'count': got 0; allowed range: > 0"),
    ({"count": True}, "'count': expected an integer, got True"),
    ({"rate_hz": float("inf")}, "'rate_hz': got inf; must be a finite number"),
    ({"rate_hz": "fast"}, "'rate_hz': expected a number, got 'fast'"),
    ({"mode": "medium"}, "'mode': got 'medium'; allowed values: 'fast', 'slow'"),
    ({"ids": [1, -2]}, "'ids': element [1]: got -2; allowed range: >= 0"),
    ({"ids": [1, 2, 3, 4]}, "'ids': got 4 elements; allowed at most 3"),
    ({"note": 3}, "'note': expected a string or nothing, got 3"),
    ({"speed": 1}, "'speed': unknown key; allowed keys here: count, ids, mode, note, rate_hz"),
    ({"count": 11, "rate_hz": 60}, "'count': above 10 needs 'rate_hz' <= 50"),
])
def test_build_names_the_field_and_what_is_allowed(data, message):
    with pytest.raises(ParameterError) as err:
        schema.build(Knob, data)
    assert str(err.value).startswith(message)


def test_build_converts_text_lists_and_enums():
    knob = schema.build(Knob, {"rate_hz": schema.Text("2.5"), "count": 4, "mode": "slow",
                               "ids": schema.Text("1, 2")})
    assert knob == Knob(rate_hz=2.5, count=4, mode=Mode.SLOW, ids=(1, 2))
    rate_hz = schema.build(Knob, {"rate_hz": 2}).rate_hz
    assert rate_hz == 2.0 and isinstance(rate_hz, float)


def test_a_cross_field_problem_names_the_flags_on_the_command_line():
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Knob)
    with pytest.raises(FlagError, match=r"^--count: above 10 needs --rate-hz <= 50$"):
        config_from_args(Knob, parser.parse_args(["--count", "11", "--rate-hz", "60"]))
    help_text = parser.format_help()
    assert "how often, Hz (default 1; allowed 0.0 .. 100.0)" in " ".join(help_text.split())


def test_exact_mode_refuses_what_msgpack_cannot_mean():
    with pytest.raises(TypeError, match="not supported"):
        @message
        class Bad:
            when: complex
    check = schema.checker(int, {"min": 0}, exact=True)
    assert check(2**63) == f"got {2**63}; allowed range: {-2**63} .. {2**63 - 1} (a signed 64-bit integer)"
    assert check(-1) == "got -1; allowed range: >= 0"
    assert check(1.0) == "expected an integer, got 1.0" and check(True) == "expected an integer, got True"
    assert schema.checker(list[int], {"max": 9}, exact=True)([1, 10]) == "element [1]: got 10; allowed range: <= 9"
    with pytest.raises(TypeError, match="unknown field metadata"):
        schema.checker(int, {"minimum": 0})


def test_a_key_prefix_names_the_key_as_written_in_a_flat_table():
    # a class written as prefixed keys of a flat preset table (meta_tau_s for Metaplasticity.tau_s):
    # its declared ranges and its own cross-field checks name the prefixed key, built or constructed
    @frozen(key_prefix="meta_")
    class Meta:
        tau_s: float = field(default=5.0, gt=0.0)
        cap_s: float = field(default=10.0, gt=0.0)

        def __post_init__(self):
            if self.cap_s < self.tau_s:
                raise FieldProblem("cap_s", "must be at least {tau_s}")

    with pytest.raises(ParameterError, match=r"'meta_tau_s': got 0\.0; allowed range: > 0\.0"):
        Meta(tau_s=0.0)
    with pytest.raises(ParameterError, match="'meta_cap_s': must be at least"):
        Meta(tau_s=20.0)
    with pytest.raises(ParameterError, match="'meta_cap_s': must be at least meta_tau_s$"):
        schema.build(Meta, {"tau_s": 20.0}, name_of=lambda key: "meta_" + key)
    with pytest.raises(ParameterError, match="'meta_tau_x': unknown key"):
        schema.build(Meta, {"tau_x": 1.0}, name_of=lambda key: "meta_" + key)
    assert schema.build(Meta, {"tau_s": 2}, name_of=lambda key: "meta_" + key) == Meta(tau_s=2.0)


def test_an_exclusive_upper_bound():
    check = schema.checker(float, {"gt": 0.0, "lt": 1.0})
    assert check(0.5) is None
    assert check(1.0) == "got 1.0; allowed range: > 0.0 and < 1.0"
    assert schema.checker(list[float], {"min": 0.0, "lt": 1.0})([0.0, 1.0]) == \
        "element [1]: got 1.0; allowed range: >= 0.0 and < 1.0"
    assert schema.allowed_text(dict(field(lt=2.0).metadata)) == "allowed range: < 2.0"
