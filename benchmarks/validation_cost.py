"""What the one validation layer (core/schema.py) costs on the hot path: decoding and checking
one message, before and after, in the same process, and the error texts it gives.

    .venv/bin/python benchmarks/validation_cost.py [--before REF] [--repeat N]

"Before" is actors/kernel/messages.py as it was at REF (default: the commit before the layer,
read with `git show`), with its own compiler of field checks; "after" is the current one,
whose checks come from core/schema.py. Both decode the same msgpack bytes of typical payloads
of the simulator's busiest kinds. msgspec and pydantic are timed only if they are already
installed (the project does not depend on them). Numbers are ns per message, best of
--repeat runs (the least disturbed by other processes).
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
import types
from pathlib import Path

from lolpim.actors.hebbian.population import Sample
from lolpim.actors.kernel import messages
from lolpim.actors.kernel.codec import MessageError
from lolpim.actors.llm.kv_manager import Plan
from lolpim.actors.llm.stage import Microbatch
from lolpim.actors.plasticity.ocular_dominance import Epsp

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "0c9298b"   # the last commit before core/schema.py

# typical payloads: a pipeline pass of 16 requests, an admission round, a Hebbian batch, an OD tick
PAYLOADS = {
    "llm stage 'work' (Microbatch, 16 requests)": Microbatch(mb=3, reqs=list(range(16)),
                                                         ctx=[4096 + i for i in range(16)],
                                                         prompt=[0] * 16, sent_ps=123_456_789),
    "kv manager 'plan' (Plan, 4 admits, 12 grows)": Plan(round=7, admit=[1, 2, 3, 4], admit_tokens=[4096] * 4,
                                                         grow=list(range(12)), grow_tokens=[4100] * 12),
    "hebbian 'sample' (Sample, 16 rows x 8)": Sample(batch=2, pre=[list(range(8))] * 16,
                                                   target=[list(range(8, 16))] * 16),
    "plasticity 'epsp' (Epsp, 3 columns)": Epsp(eye=1, t=bytes(80), n=bytes(80), w=bytes(80)),
}


def old_messages(ref: str):
    """actors/kernel/messages.py at ``ref``, loaded as a module beside the current one."""
    source = subprocess.run(["git", "show", f"{ref}:actors/kernel/messages.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("lolpim_messages_before")
    exec(compile(source, f"{ref}:actors/kernel/messages.py", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module


def ns_per_call(fn, repeat: int, number: int) -> float:
    return interleaved([fn], repeat, number)[0]


def interleaved(fns, repeat: int, number: int) -> list[float]:
    """Best ns per call of each of ``fns``, timed in turns (before, after, before, ...) so that
    a busy spell of the machine falls on both alike."""
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter_ns()
            for _ in range(number):
                fn()
            best[i] = min(best[i], (time.perf_counter_ns() - t0) / number)
    return best


def optional_libraries(repeat: int, number: int) -> list[str]:
    lines = []
    data = messages.encode(PAYLOADS["llm stage 'work' (Microbatch, 16 requests)"])
    if importlib.util.find_spec("msgspec"):
        import msgspec

        struct = msgspec.defstruct("MicrobatchStruct", [("mb", int), ("reqs", list[int]), ("ctx", list[int]),
                                                        ("prompt", list[int]), ("sent_ps", int)], frozen=True)
        decoder = msgspec.msgpack.Decoder(struct)
        ns = ns_per_call(lambda: decoder.decode(data), repeat, number)
        lines.append(f"  msgspec (types only, no ranges): {ns:,.0f} ns")
    else:
        lines.append("  msgspec: not installed (not timed)")
    if importlib.util.find_spec("pydantic"):
        import msgpack
        import pydantic

        model = pydantic.create_model("MicrobatchModel", __config__=pydantic.ConfigDict(frozen=True, strict=True),
                                      mb=(int, ...), reqs=(list[int], ...), ctx=(list[int], ...),
                                      prompt=(list[int], ...), sent_ps=(int, ...))
        lines.append(f"  pydantic (types only, no ranges): "
                     f"{ns_per_call(lambda: model(**msgpack.unpackb(data)), repeat, number):,.0f} ns")
    else:
        lines.append("  pydantic: not installed (not timed)")
    return lines


def error_examples() -> list[str]:
    """One error of each kind of input, as a user sees it."""
    from lolpim.core.errors import UserError
    from lolpim.orchestration import api_learning, config
    from lolpim.orchestration.cli import main
    from lolpim.orchestration.llm.config import RunConfig
    out = []
    for attempt in (lambda: config.load(RunConfig, None, ["lolpim.kv_mode=statc"]),
                    lambda: config.load(RunConfig, None, ["workload.requests=0"]),
                    lambda: api_learning.stdp(pairs=0),
                    lambda: messages.decode("stage0", "work", Microbatch,
                                            messages.encode({**messages.fields_of(PAYLOADS[next(iter(PAYLOADS))]),
                                                             "mb": -1}))):
        try:
            attempt()
        except (UserError, MessageError) as exc:
            out.append(f"  {exc}")
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        main(["plasticity", "stdp", "--pairs", "0"])
    out.append("  " + err.getvalue().strip())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=BEFORE, help=f"the commit to compare with (default {BEFORE})")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--number", type=int, default=5_000)
    args = ap.parse_args()
    try:
        old = old_messages(args.before)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"before ({args.before}) is not available without the git history: {exc}", file=sys.stderr)
        old = None
    print(f"decode + validate, ns per message (best of {args.repeat} x {args.number:,}):")
    print(f"  {'message':<48} {'before':>9} {'after':>9} {'after/before':>12}")
    for label, payload in PAYLOADS.items():
        cls, data = type(payload), messages.encode(payload)
        assert messages.decode("a", "k", cls, data) == payload
        if old is not None:
            assert old.decode("a", "k", cls, data) == payload
            before, after = interleaved([lambda cls=cls, data=data: old.decode("a", "k", cls, data),
                                         lambda cls=cls, data=data: messages.decode("a", "k", cls, data)],
                                        args.repeat, args.number)
            print(f"  {label:<48} {before:9,.0f} {after:9,.0f} {after / before:12.2f}")
        else:
            after = ns_per_call(lambda cls=cls, data=data: messages.decode("a", "k", cls, data), args.repeat,
                                args.number)
            print(f"  {label:<48} {'-':>9} {after:9,.0f}")
    print("libraries, the Microbatch above:")
    print("\n".join(optional_libraries(args.repeat, args.number)))
    print("error texts (config key, Python setting, message field, flag):")
    print("\n".join(error_examples()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
