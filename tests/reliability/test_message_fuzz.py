"""Message fuzzer (issue 14): whatever arrives, only MessageError or KernelError may escape
``deliver(actor, event)``: never another exception, never a hang.

Every Actor subclass of the actor packages is found by walking Actor's subclasses; each is
taken from a small system of its domain (built by the domain's own builder, run a few events
so queues and tables hold something) and fed, per case, one of: random bytes; a valid-shaped
payload bit-flipped or truncated; a payload of the declared fields with hostile values
(extreme and negative ints, NaN, unknown ids, wrong types, missing and extra fields); an
unknown kind. Each case gets a fresh copy of the actor and a 2 s alarm.

Issue 26: the LLM actors are fuzzed in every system variant (lolpim, gpu, gpu-pim, cent,
neupims, lolpim-xpu: each wires them differently, e.g. CENT's static KV reservations), and
events come at times up to past the kernel's horizon.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib
import signal
import typing

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lolpim.actors.kernel.actor import Actor, KernelError, check_payload, deliver
from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.inline import deliver_in_order
from lolpim.actors.kernel.messages import is_message_class

ACTOR_MODULES = ("lolpim.actors.demo.pipeline", "lolpim.actors.demo.random_graph", "lolpim.actors.demo.grid",
                 "lolpim.actors.llm.host",
                 "lolpim.actors.llm.stage", "lolpim.actors.llm.kv_manager",
                 "lolpim.actors.plasticity.ocular_dominance", "lolpim.actors.plasticity.od_map",
                 "lolpim.actors.hebbian.population")
CASES_PER_CLASS = 650         # 10 classes: > 5,000 cases a run (a failing class stops at its first failure)
# Cases per Hypothesis example: each case is still one message to a fresh copy of the actor under
# its own alarm, but the engine's per-example work (~40% of the fuzzer's time with one case each)
# is shared; a failing example lists every draw, so the case that failed.
CASES_PER_EXAMPLE = 4
WARM_EVENTS = 40              # events run before fuzzing, so the actors hold some state
CASE_TIMEOUT_S = 2.0

# Classes that still let another exception escape (owners are converting them; see the report
# in git log). xfail(strict=True): the entry must go once the class is fixed.
STILL_FAILING: dict[str, str] = {}


# --- the small systems the actors come from -----------------------------------------------

def _demo_pipeline():
    from lolpim.actors.demo.pipeline import PipelineShape
    return PipelineShape((1000, 2000), 100, 3, 4, jitter=0.2).system(seed=1)


def _demo_graph():
    from lolpim.actors.demo.random_graph import node
    from lolpim.actors.kernel.system import SystemSpec
    return SystemSpec((node("a", targets=["b"], lookahead_ps=2, delay_choices_ps=[0, 1], initial_pings=3),
                       node("b", targets=["a"], lookahead_ps=3, delay_choices_ps=[0], timer_prob=0.5)), seed=2)


def _demo_grid():
    from lolpim.actors.demo.grid import GridShape
    return GridShape(side=3, steps=6, messages=2, payload_bytes=8).system(seed=3)


def _llm(kind):
    def build_it():
        from lolpim.orchestration import config
        from lolpim.orchestration.llm.config import RunConfig
        from lolpim.orchestration.llm.systems import build, make_trace
        cfg = config.load(RunConfig, None, ["model=llama2-7b", "workload.source=fixed", "workload.input_tokens=64",
                                            "workload.output_tokens=8", "workload.requests=4", "lolpim.modules=4",
                                            f"system={kind}"])
        return build(kind, cfg, make_trace(cfg, 0), 0).spec
    build_it.variant = kind
    return build_it


def _plasticity():
    from lolpim.actors.plasticity.ocular_dominance import ocular_dominance_system
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    cfg = od.OcularDominanceConfig(neurons=2, synapses_per_eye=4, binocular_s=0.5, deprivation_s=0.5)
    return ocular_dominance_system(cascade.load_params("hippocampal"), cfg, variant="network", seed=3, blocks=1)


def _sheet():
    from lolpim.actors.plasticity.od_map import sheet_system
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import od_map as om
    cfg, variant = om.load_sheet(size=4, synapses_per_eye=3, binocular_s=0.5)
    return sheet_system(cascade.load_params("cortical"), cfg, variant, seed=3, tiles_x=2, tiles_y=1)


def _hebbian():
    from lolpim.actors.hebbian.population import multiplication_system
    return multiplication_system(3, seed=1, batch_size=3)


LLM_KINDS = ("lolpim", "gpu", "gpu-pim", "cent", "neupims", "lolpim-xpu")
SYSTEMS = (_demo_pipeline, _demo_graph, _demo_grid, *[_llm(kind) for kind in LLM_KINDS], _plasticity, _sheet,
           _hebbian)
CASES_PER_OTHER_VARIANT = 200   # after the first variant of a class (lolpim), per further variant


def _warm_actors(make_system) -> tuple[dict, list[str]]:
    """The system's actors after WARM_EVENTS events (state in mid-run), and every actor name."""
    system = make_system()
    actors = {s.name: s.build(system.seed) for s in system.actors}
    deliver_in_order(actors, WARM_EVENTS, keep=lambda out: out.dst in actors)
    return actors, list(actors)


IMPORT_ERRORS: dict[str, str] = {}
BUILD_ERRORS: dict[str, str] = {}


def actor_classes() -> list[type]:
    for module in ACTOR_MODULES:
        try:
            importlib.import_module(module)
        except Exception as exc:   # reported by test_every_actor_class_is_fuzzed, not a collection error
            IMPORT_ERRORS[module] = f"{type(exc).__name__}: {exc}"
    found, stack = [], list(Actor.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("lolpim.actors.") and not cls.__module__.startswith("lolpim.actors.kernel") \
                and cls.accepts and cls not in found:
            found.append(cls)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


_PROTOTYPES: dict = {}


def prototypes() -> dict:
    """class qualname -> (a warmed actor of that class, names of the actors of its system)."""
    if not _PROTOTYPES:
        for make in SYSTEMS:
            variant = getattr(make, "variant", None)
            try:
                actors, names = _warm_actors(make)
            except Exception as exc:   # a domain mid-change: its classes fail below, naming this
                BUILD_ERRORS[variant or make.__qualname__] = f"{type(exc).__name__}: {exc}"
                continue
            for actor in actors.values():
                _PROTOTYPES.setdefault(_key(type(actor)), (actor, names))
                if variant is not None:
                    _PROTOTYPES.setdefault(f"{_key(type(actor))}@{variant}", (actor, names))
    return _PROTOTYPES


def _key(cls) -> str:
    return f"{cls.__module__.removeprefix('lolpim.actors.')}.{cls.__qualname__}"


# --- hostile payloads ---------------------------------------------------------------------

# extremes a quarter of the time; mostly small ids and counts, so that lists of them often pass the
# schema's ranges and reach the handler's own checks
INTS = st.one_of(st.sampled_from([-2**63, -2**31, -1, 0, 1, 2, 3, 7, 63, 2**31, 2**62, 2**63 - 1, 2**64 - 1]),
                 st.integers(-5, 100), st.integers(0, 64), st.integers(0, 64))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e308, -1e-300]))
ANY = st.recursive(st.one_of(st.none(), st.booleans(), INTS, FLOATS, st.text(max_size=6), st.binary(max_size=16)),
                   lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                   max_leaves=12)


def _value(tp, names, meta=None):
    """A strategy of values of annotation ``tp``'s type (hostile values) for the typed cases;
    ``meta`` (the field's metadata) adds its allowed choices and, for ints, values in its range
    (for a list, its elements'), so that a field taking a few strings or a list of small
    non-negative ids is not what stops almost every case at the schema: hostile values still
    come a third of the time for such a field, and the loose half of the cases ignores types."""
    meta = meta or {}
    if tp is str and meta.get("choices"):
        return st.one_of(st.sampled_from(list(meta["choices"])), st.sampled_from(list(meta["choices"])),
                         st.sampled_from(names), st.text(max_size=8))
    if tp is int and ("min" in meta or "max" in meta):
        low = max(meta.get("min", -2**63), -2**63)
        high = min(meta.get("max", 2**63 - 1), low + 100)
        in_range = st.integers(low, high)
        return st.one_of(in_range, in_range, INTS)
    origin = typing.get_origin(tp)
    if origin is list:
        right = st.lists(_value(typing.get_args(tp)[0], names, meta), max_size=6)
    elif origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        right = st.one_of(st.none(), *[_value(a, names) for a in inner])
    elif isinstance(tp, tuple):                              # old dict schemas: (int, float)
        right = st.one_of(*[_value(t, names) for t in tp])
    elif tp is int:
        right = INTS
    elif tp is float:
        right = st.one_of(FLOATS, INTS)
    elif tp is str:
        right = st.one_of(st.sampled_from(names), st.text(max_size=8))
    elif tp is bool:
        right = st.booleans()
    elif tp is bytes:
        # arrays travel as bytes: lengths that are and are not multiples of 8
        right = st.one_of(st.binary(max_size=40), st.integers(0, 6).map(lambda n: bytes(8 * n)))
    elif tp is list:
        right = st.lists(st.one_of(INTS, FLOATS, st.lists(INTS, max_size=4)), max_size=6)
    elif tp is dict:
        right = st.dictionaries(st.text(max_size=4), ANY, max_size=4)
    else:
        right = ANY
    return right


def _fields(schema) -> dict:
    if is_message_class(schema):
        hints = typing.get_type_hints(schema)
        return {f.name: hints[f.name] for f in dataclasses.fields(schema)}
    return dict(schema)


def _metadata(schema) -> dict:
    return {f.name: dict(f.metadata) for f in dataclasses.fields(schema)} if is_message_class(schema) else {}


def payload_bytes(schema, names):
    """Strategy of payload bytes for one message kind (built once per kind: building strategies
    costs more than drawing from them)."""
    meta = _metadata(schema)
    typed = tuple((name, _value(tp, names, meta.get(name))) for name, tp in _fields(schema).items())
    loose = tuple((name, st.one_of(strategy, strategy, strategy, ANY)) for name, strategy in typed)
    return _payload_bytes(typed, loose)


@st.composite
def _payload_bytes(draw, typed, loose):
    # half the cases are well-typed (hostile values the handler itself must refuse), half any
    fields = typed if draw(st.booleans()) else loose
    payload = {name: draw(strategy) for name, strategy in fields}
    lists = [name for name, value in payload.items() if isinstance(value, list)]
    if len(lists) > 1 and draw(st.booleans()):   # parallel columns (ids, contexts, ...) as long as each other
        shortest = min(len(payload[name]) for name in lists)
        payload.update({name: payload[name][:shortest] for name in lists})
    how = draw(st.sampled_from(["shaped"] * 5 + ["missing", "extra", "bitflip", "truncate", "random"]))
    if how == "missing" and payload:
        payload.pop(draw(st.sampled_from(sorted(payload))))
    if how == "extra":
        payload[draw(st.text(max_size=5))] = draw(ANY)
    data = msgpack.packb(payload, use_bin_type=True)
    if how == "bitflip" and data:
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, len(data) * 8 - 1))
            data = data[:i // 8] + bytes([data[i // 8] ^ (1 << i % 8)]) + data[i // 8 + 1:]
    if how == "truncate":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    if how == "random":
        data = draw(st.binary(max_size=64))
    return data


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a delivery ran over {CASE_TIMEOUT_S} s")


CASES: dict = {}   # class -> [cases, cases whose payload passed the schema (so reached handle)]


def _fuzz_class(key: str):
    if key not in prototypes():
        if "@" in key and not BUILD_ERRORS:
            pytest.skip(f"the {key.split('@')[1]} system has no {key.split('@')[0]}")
        pytest.fail(f"no {key} to fuzz; systems that failed to build: {BUILD_ERRORS}")
    actor0, names = prototypes()[key]
    kinds = sorted(actor0.accepts)
    payloads = {kind: payload_bytes(actor0.accepts.get(kind, {}), names) for kind in kinds + ["no-such-kind"]}
    kind_choice = st.one_of(*[st.sampled_from(kinds)] * 19, st.just("no-such-kind"))
    src_choice = st.sampled_from([actor0.name, "fuzzer", *names])
    when_choice = st.sampled_from([0, 1, 10**6, 10**12, 0, 1, 10**6, 10**12, 2**61, 2**62, 2**63 - 1])

    def one_case(data):
        kind = data.draw(kind_choice)
        raw = data.draw(payloads[kind])
        # a timer passes only from the actor itself: send half of them from it, half forged
        src = data.draw(st.one_of(st.just(actor0.name), src_choice) if kind in actor0.timers else src_choice)
        when = actor0.now_ps + data.draw(when_choice)
        actor = copy.deepcopy(actor0)
        counts = CASES.setdefault(key, [0, 0])
        counts[0] += 1
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, CASE_TIMEOUT_S)
        event = Event(when, actor.name, src, 10**6, kind, raw)
        try:
            try:
                check_payload(actor, event, 4 * 1024 * 1024)
                counts[1] += 1
            except MessageError:
                pass
            deliver(actor, event)
        except (MessageError, KernelError):
            pass
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)

    # derandomize: the same cases every run, so the STILL_FAILING list is stable
    per_class = CASES_PER_OTHER_VARIANT if "@" in key and not key.endswith("@lolpim") else CASES_PER_CLASS
    @settings(max_examples=-(-per_class // CASES_PER_EXAMPLE), deadline=None, database=None,
              derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        for _ in range(CASES_PER_EXAMPLE):
            one_case(data)
    run()
    cases, handled = CASES[key]
    # the schema must not stop everything: hostile values have to reach the handlers too
    assert handled >= cases // 20, f"{key}: only {handled} of {cases} cases got past the schema"


def test_every_actor_class_is_fuzzed():
    classes = actor_classes()
    assert not IMPORT_ERRORS, f"actor modules that do not import: {IMPORT_ERRORS}"
    missing = [_key(c) for c in classes if _key(c) not in prototypes()]
    assert not missing, (f"actor classes with no system in SYSTEMS to take them from: {missing}; "
                         f"systems that failed to build: {BUILD_ERRORS}")


def _params():
    out = []
    for cls in actor_classes():
        key = _key(cls)
        # an LLM actor class in each system variant but the first (lolpim: the plain key)
        for variant_key in [key] + ([f"{key}@{kind}" for kind in LLM_KINDS[1:]] if key.startswith("llm.") else []):
            marks = ([pytest.mark.xfail(strict=True, reason=STILL_FAILING[variant_key])]
                     if variant_key in STILL_FAILING else [])
            out.append(pytest.param(variant_key, marks=marks, id=variant_key))
    return out


@pytest.mark.parametrize("key", _params())
def test_only_message_or_kernel_errors_escape_deliver(key):
    _fuzz_class(key)


def test_enough_cases_ran():
    """Runs last in this file: >= 5,000 cases in all when every class was fuzzed."""
    if len(CASES) < len(actor_classes()) - len(STILL_FAILING):
        pytest.skip("only part of the fuzzer ran (-k)")
    total = sum(n for n, _ in CASES.values())
    print(f"message fuzz: {total} cases, {sum(h for _, h in CASES.values())} reached a handler: "
          + ", ".join(f"{k} {n}/{h}" for k, (n, h) in sorted(CASES.items())))
    assert total >= 5000
