"""How long a refused message costs (printed, never asserted).

tests/reliability/test_message_bounds.py checks that a forged message is refused before it does
any work (no integration step, no weight change); this prints what the refusal costs in wall
time, so a refusal that starts doing work shows up here rather than in a flaky timed assertion.

  1. a forged tick far past an eye population's own timer (it once integrated up to it);
  2. a Hebbian sample message of MAX_ROWS_PER_MESSAGE + 1 rows (refused on its row count).

Run: .venv/bin/python benchmarks/message_refusal.py [--repeats N]
"""
from __future__ import annotations

import argparse
import time

from lolpim.actors.kernel.actor import deliver
from lolpim.actors.kernel.codec import HORIZON_PS, MessageError, pack_payload
from lolpim.actors.kernel.events import Event
from lolpim.actors.kernel.inline import deliver_in_order


def warm(spec, events: int) -> dict:
    """The spec's actors after ``events`` deliveries in time order (so they hold real state)."""
    actors = {s.name: s.build(spec.seed) for s in spec.actors}
    deliver_in_order(actors, events)
    return actors


def time_refusals(actor, make_event, repeats: int) -> float:
    """Mean seconds per refused delivery."""
    t0 = time.perf_counter()
    for _ in range(repeats):
        try:
            deliver(actor, make_event())
        except MessageError:
            continue
        raise SystemExit(f"{actor.name}: the forged message was accepted")
    return (time.perf_counter() - t0) / repeats


def forged_tick(repeats: int) -> None:
    from lolpim.actors.plasticity.ocular_dominance import EyePopulation, ocular_dominance_system
    from lolpim.models.plasticity import cascade
    from lolpim.models.plasticity import ocular_dominance as od
    cfg = od.OcularDominanceConfig(neurons=2, synapses_per_eye=4, binocular_s=0.5, deprivation_s=0.5)
    spec = ocular_dominance_system(cascade.load_params("hippocampal"), cfg, variant="network", seed=3, blocks=1)
    eye = next(a for a in warm(spec, 60).values() if isinstance(a, EyePopulation))
    start = eye.now_ps
    refused_s = time_refusals(
        eye, lambda: Event(HORIZON_PS, eye.name, eye.name, 10**6, "tick", pack_payload({})), repeats)
    eye.now_ps = start
    print(f"forged tick at the horizon ({HORIZON_PS} ps): {refused_s * 1e6:9.1f} us per refusal")


def oversized_hebbian_message(repeats: int) -> None:
    from lolpim.actors.hebbian.population import MAX_ROWS_PER_MESSAGE, TernarySynapsePopulation, multiplication_system
    pop = next(a for a in warm(multiplication_system(3, seed=1, batch_size=3), 5).values()
               if isinstance(a, TernarySynapsePopulation))
    rows = [[]] * (MAX_ROWS_PER_MESSAGE + 1)
    payload = pack_payload({"batch": 0, "pre": rows, "target": rows})
    refused_s = time_refusals(
        pop, lambda: Event(pop.now_ps + 1, pop.name, "teacher", 10**6, "sample", payload), repeats)
    print(f"Hebbian sample of {MAX_ROWS_PER_MESSAGE + 1} rows ({len(payload) / 1e6:.1f} MB): "
          f"{refused_s * 1e3:9.2f} ms per refusal (decode of the payload included)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20, help="refusals timed per case (default 20)")
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {args.repeats}")
    forged_tick(args.repeats)
    oversized_hebbian_message(max(1, args.repeats // 5))


if __name__ == "__main__":
    main()
