import os

import pytest


@pytest.fixture(scope="session")
def ray_session():
    """One embedded local Ray for the whole test session (starting one costs ~2-3 s), started as
    the CLI starts it: bound to 127.0.0.1, no dashboard."""
    import ray

    from lolpim.actors.kernel import ray_executor
    ray_executor.ensure_ray(num_cpus=max(2, os.cpu_count() or 2))
    # the session owns this Ray: a CLI run inside a test must not shut it down at its end
    ray_executor._embedded["started"] = False
    yield ray


@pytest.fixture(scope="session")
def ray_pool(ray_session):
    """``ray_pool(**kwargs)``: a ``RayExecutor(keep_processes=True, **kwargs)`` whose kept Ray
    processes are shared with every other executor this fixture makes, for the whole session.

    Starting a Ray actor process (a fresh interpreter importing Ray and the actor classes) costs
    ~0.4 s of wall time here, and the Ray tests would start ~60 of them; a kept process is
    reconfigured for each run instead (``ActorHost.configure``, the path sweeps and side-by-side
    comparisons take). The fresh-process path (a single ``--executor ray`` run) keeps its own
    tests, which build ``RayExecutor`` directly: the kernel's kill-and-restore test, the
    plasticity CLI on Ray, the loopback probe."""
    from lolpim.actors.kernel.ray_executor import RayExecutor
    hosts: list = []

    def make(**kwargs):
        executor = RayExecutor(keep_processes=True, **kwargs)
        # the executor's pool of kept processes (it grows it when a run needs more, and swaps
        # in the replacement of a process it recovers): one list for all of them
        executor._pool = hosts
        return executor
    yield make
    for handle in hosts:
        ray_session.kill(handle)


# --- declared actor state ---------------------------------------------------------------------
# Attributes every actor has from the kernel (snapshotted by Actor.snapshot itself).
KERNEL_ATTRS = {"name", "now_ps", "_seq", "events_processed", "rng"}


def _same(a, b) -> bool:
    import numpy as np
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype \
            and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except Exception:        # objects without a usable ==: compare what they hold
        return type(a) is type(b) and _same(vars(a), vars(b))


def check_state_round_trip(system, events: int) -> dict:
    """Run ``system`` inline for ``events`` events, then for every actor check that
    (1) nothing outside its declared ``state_fields`` changed since construction (so a snapshot
    cannot miss a field) and (2) snapshot -> msgpack -> fresh actor -> restore gives the same
    snapshot. Returns {actor name: events it processed} so a test can assert the run did work."""
    import copy

    import msgpack

    from lolpim.actors.kernel.inline import deliver_in_order

    actors = {s.name: s.build(system.seed) for s in system.actors}
    at_build = {n: {k: copy.deepcopy(v) for k, v in vars(a).items()
                    if k not in KERNEL_ATTRS and k not in type(a).state_fields} for n, a in actors.items()}
    deliver_in_order(actors, events)
    for spec in system.actors:
        actor = actors[spec.name]
        for field in type(actor).state_fields:
            assert hasattr(actor, field), f"{spec.name}: declared state '{field}' is no attribute"
        changed = [k for k, v in at_build[spec.name].items() if not _same(v, getattr(actor, k))]
        undeclared = sorted(set(vars(actor)) - KERNEL_ATTRS - set(type(actor).state_fields) - set(at_build[spec.name]))
        assert not changed and not undeclared, (
            f"{spec.name} ({type(actor).__name__}): attributes outside state_fields changed during the run: "
            f"{changed + undeclared}; declare them in state_fields")
        snap = msgpack.packb(actor.snapshot(), use_bin_type=True)
        fresh = spec.build(system.seed)
        fresh.restore(msgpack.unpackb(snap, raw=False, strict_map_key=False))
        again = msgpack.packb(fresh.snapshot(), use_bin_type=True)
        assert again == snap, f"{spec.name} ({type(actor).__name__}): snapshot/restore does not round-trip"
        for field in type(actor).state_fields:
            assert _same(getattr(fresh, field), getattr(actor, field)), f"{spec.name}.{field} differs after restore"
    return {n: a.events_processed for n, a in actors.items()}


@pytest.fixture
def state_round_trip():
    """check_state_round_trip as a fixture (tests/ is not a package, so no direct import)."""
    return check_state_round_trip


@pytest.fixture(scope="session")
def anchor_rows():
    """``anchor_rows(function)``: the rows of an anchor function (e.g. lolpim_system.checks) by name,
    computed on first use and kept for the session.

    The validation tests parametrise over row names listed in the test module, not over computed
    rows, so collection runs no simulation and `-k` / `-m "not slow"` skip the work entirely."""
    cache = {}

    def rows(function):
        if function not in cache:
            computed = function()
            names = [c.name for c in computed]
            assert len(set(names)) == len(names), f"duplicate row names in {function.__qualname__}"
            cache[function] = {c.name: c for c in computed}
        return cache[function]
    return rows


def expect_documented_miss(check) -> None:
    """A documented miss (note "known miss ...") xfails while it fails inside the band recorded for
    it (orchestration/anchors/known_misses.toml); it fails the test once it passes (the docs must
    change) or once it drifts out of its band or was never recorded (the miss grew or shrank
    unnoticed). Other rows return and are asserted by the test."""
    if not check.documented_as_miss:
        return
    if check.passed:
        pytest.fail(f"[XPASS(strict)] {check.note}: documented miss now passes, update the docs: {check}",
                    pytrace=False)
    if check.drifted:
        miss = check.documented_miss
        where = (f"documented {miss.documented:.4g}, band [{miss.band[0]:.4g}, {miss.band[1]:.4g}]" if miss
                 else "no value recorded in orchestration/anchors/known_misses.toml")
        pytest.fail(f"documented miss drifted: {check.name} is now {float(check.simulated):.4g} ({where})",
                    pytrace=False)
    pytest.xfail(check.note)


@pytest.fixture(scope="session")
def anchor_row(anchor_rows):
    """``anchor_row(function, name)``: the computed row ``name`` of ``function``; a documented miss
    (note "known miss ...") is a strict xfail decided here, at run time, because the note is only
    known once the row is computed: it xfails while the row fails and fails the test once it
    passes (the docs must then change), as ``xfail(strict=True)`` did at collection."""
    def row(function, name):
        table = anchor_rows(function)
        assert name in table, f"{function.__qualname__} has no row {name!r}: rows are {list(table)}"
        check = table[name]
        expect_documented_miss(check)
        return check
    return row
