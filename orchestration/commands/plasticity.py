"""`lolpim plasticity PROTOCOL`: run an induction protocol on the cascade or Graupner-Brunel synapse.

Each protocol's flags are generated from its typed config (orchestration/learning_config.py:
PairingRun, StdpRun, FrequencyRun, BcmRun, OcularDominanceRun), which also checks them; the run
itself is the Python API's (orchestration/api_learning.py), so the CLI and a notebook share one
code path. Writes plasticity_<protocol>.csv/.json/.png under --out; --json prints the result.
`lolpim plasticity od-map` (a cortical sheet with lateral connections, tiles as actors) takes the
same route with its own config and result (OdMapRun, api_learning.od_map) and writes od_map.*.
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from lolpim.core.errors import FlagError
from lolpim.orchestration import api_learning
from lolpim.orchestration.flags import add_config_flags, config_from_args, dest_of
from lolpim.orchestration.learning_config import PROTOCOL_RUNS, OdMapRun

PROTOCOLS = tuple(PROTOCOL_RUNS)
NO_BOOST_WHY = {"ocular-dominance": " (ocular-dominance runs boosted, with its no-boost controls from the same state)",
                "bcm": " (the BCM protocol has no postsynaptic spikes, so no bAPs)"}


def _owners() -> dict[str, tuple[type, tuple[str, ...]]]:
    """Every flag of any protocol -> (a config declaring it, the protocols that take it)."""
    owners: dict[str, tuple[type, tuple[str, ...]]] = {}
    for protocol, cls in PROTOCOL_RUNS.items():
        for name in (f.name for f in dataclasses.fields(cls)):
            dest = dest_of(cls, name)
            owner = owners.get(dest, (cls, ()))
            owners[dest] = (owner[0], owner[1] + (protocol,))
    return owners


def check_foreign_flags(args) -> None:
    """A flag of another protocol is a mistake, not something to ignore: name the protocols it belongs to."""
    for dest, (_cls, protocols) in _owners().items():
        if args.protocol not in protocols and getattr(args, dest, None) not in (None, False):
            names = protocols[0] if len(protocols) == 1 else f"{', '.join(protocols[:-1])} and {protocols[-1]}"
            extra = NO_BOOST_WHY.get(args.protocol, "") if dest == "no_boost" else ""
            flag = "--" + dest.replace("_", "-")
            raise FlagError(flag, f"applies to the {names} protocol{'s' if len(protocols) > 1 else ''} only, "
                                  f"not '{args.protocol}'{extra}")


def _report(result, args) -> int:
    """--out files, then the result as --json or as the table."""
    files = result.write(Path(args.out)) if args.out else []
    if args.json:
        print(result.to_json())
    else:
        print(result.table())
        for f in files:
            print(f"wrote {f}")
    return 0


def run(args) -> int:
    check_foreign_flags(args)
    config = config_from_args(PROTOCOL_RUNS[args.protocol], args)
    show = None if config.__class__ is not PROTOCOL_RUNS["ocular-dominance"] else \
        (not args.json and sys.stderr.isatty())
    result = api_learning.plasticity(args.protocol, config, show_progress=show)
    return _report(result, args)


def run_od_map(args) -> int:
    config = config_from_args(OdMapRun, args)
    try:
        result = api_learning.od_map(config, show_progress=not args.json and sys.stderr.isatty())
    except api_learning.OdMapInterrupted as stop:   # Ctrl-C, SIGTERM: keep the map of the last finished segment
        if args.out and stop.result is not None:
            files = stop.result.write(Path(args.out))
            print(f"od-map: stopped after {stop.result.binocular_s:g} s binocular; the map so far: "
                  + ", ".join(map(str, files)), file=sys.stderr)
        raise
    return _report(result, args)


def register_od_map(protocols) -> None:
    """The od-map subcommand: its flags are OdMapRun's fields (it takes no other protocol's)."""
    q = protocols.add_parser("od-map", help="the ocular-dominance map of an N x N sheet of cascade neurons with "
                                            "lateral connections (tiles as actors, inline or Ray)",
                             description="Ocular-dominance map of a cortical sheet (docs/od-map.md): a binocular "
                                         "phase, the OD map with its wavelength and bimodality, then optionally "
                                         "left-eye lid suture against a binocular control from the same state.")
    add_config_flags(q, OdMapRun)
    q.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    q.add_argument("--out", metavar="DIR", help="write od_map.json, .csv and .png here")
    q.set_defaults(func=run_od_map)


def register(sub) -> None:
    p = sub.add_parser("plasticity", help="synaptic plasticity protocols (calcium cascade, Graupner-Brunel)",
                       description="Run an induction protocol on the calcium-cascade or Graupner-Brunel "
                                   "synapse. `lolpim plasticity PROTOCOL --help` lists the protocol's options "
                                   "and their defaults.")
    protocols = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    owners = _owners()
    for protocol, cls in PROTOCOL_RUNS.items():
        doc = " ".join((cls.__doc__ or "").split())
        q = protocols.add_parser(protocol, help=doc, description=doc)
        add_config_flags(q, cls)
        # the other protocols' flags, parsed but hidden: given here, they are named as theirs
        for dest, (owner, takers) in owners.items():
            if protocol not in takers:
                name = next(f.name for f in dataclasses.fields(owner) if dest_of(owner, f.name) == dest)
                add_config_flags(q, owner, names=(name,), hidden=True)
        q.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
        q.add_argument("--out", metavar="DIR",
                       help=f"write plasticity_{protocol.replace('-', '_')}.csv, .json and .png here")
        q.set_defaults(func=run)
    register_od_map(protocols)
