"""The learning side of lolpim's Python API: each plasticity protocol, Hebbian learning and CBP.

Each function takes its typed config (orchestration/learning_config.py) or the same settings as
keyword arguments, checks them by the fields' declarations (a bad one is a ParameterError, a
UserError naming the setting and what is allowed), runs, and returns a typed result with
``.to_json()`` (exactly the CLI's ``--json``), ``.table()`` (the CLI's text), ``.write(folder)``
(the CLI's ``--out`` files) and ``.to_dataframe()`` (pandas, optional). The CLI commands call
these functions: one code path.

    >>> from lolpim.orchestration import api_learning as learn
    >>> r = learn.stdp(model="graupner-brunel", pairs=30)
    >>> r.rows[:2], r.columns
"""
from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lolpim.core import schema
from lolpim.core.errors import ParameterError
from lolpim.models.plasticity import od_map as om
from lolpim.orchestration.cbp import training
from lolpim.orchestration.hebbian import tasks
from lolpim.orchestration.learning_config import (
    PROTOCOL_RUNS,
    BcmRun,
    CbpRun,
    FrequencyRun,
    HebbianRun,
    OcularDominanceRun,
    OdMapRun,
    PairingRun,
    StdpRun,
)
from lolpim.orchestration.plasticity import od_map as sheet
from lolpim.orchestration.plasticity import protocols


def _config(cls: type, config: Any, settings: dict):
    """``config`` (an instance of ``cls``, or None for the defaults) with ``settings`` over it,
    checked by the fields' declarations; a problem names the setting."""
    if config is not None and not isinstance(config, cls):
        raise ParameterError("config", f"expected a {cls.__name__}, got {type(config).__name__}")
    if config is not None and not settings:
        return config
    base = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls)} if config is not None else {}
    return schema.build(cls, {**base, **settings})


def _dataframe(columns, rows):
    try:
        import pandas as pd
    except ImportError:   # an optional extra
        raise ParameterError("to_dataframe", "needs pandas (pip install pandas)") from None
    return pd.DataFrame([list(r.values()) if isinstance(r, dict) else list(r) for r in rows], columns=list(columns))


@dataclass(frozen=True)
class PlasticityResult:
    """One protocol's result: its table (``columns``, ``rows``: one row per condition or sample
    time) and everything the CLI writes as JSON (``data``: parameters, experiment, comparison,
    and for ocular dominance its summary)."""
    protocol: str
    model: str
    config: Any
    columns: tuple[str, ...]
    rows: tuple
    data: dict

    def to_json(self) -> str:
        return json.dumps(self.data)

    def table(self) -> str:
        return protocols.summary_text(self.data)

    def write(self, out_dir: str | Path) -> list[Path]:
        """plasticity_<protocol>.csv, .json and .png in ``out_dir``."""
        return protocols.write_outputs(self.data, Path(out_dir))

    def to_dataframe(self):
        return _dataframe(self.columns, self.rows)


def plasticity(protocol: str, config: Any = None, *, show_progress: bool | None = None,
               **settings) -> PlasticityResult:
    """Run plasticity ``protocol`` (pairing, stdp, frequency, bcm, ocular-dominance) with its
    config (PairingRun, ...) and/or settings. ``show_progress``: ocular dominance's progress bar
    on stderr (None: when stderr is a terminal)."""
    if protocol not in PROTOCOL_RUNS:
        raise ParameterError("protocol", f"got {schema.shown(protocol)}; allowed values: "
                                         + ", ".join(repr(p) for p in PROTOCOL_RUNS))
    run = _config(PROTOCOL_RUNS[protocol], config, settings)
    data = protocols.run_protocol(run, show_progress=show_progress)
    return PlasticityResult(protocol, run.model, run, tuple(data["columns"]),
                            tuple(tuple(r) if isinstance(r, list) else r for r in data["rows"]), data)


def pairing(config: PairingRun | None = None, **settings) -> PlasticityResult:
    """Voltage-clamp pairing (cascade): weight change against holding potential."""
    return plasticity("pairing", config, **settings)


def stdp(config: StdpRun | None = None, **settings) -> PlasticityResult:
    """Spike-timing-dependent plasticity: weight change against delta t (cascade or Graupner-Brunel)."""
    return plasticity("stdp", config, **settings)


def frequency(config: FrequencyRun | None = None, **settings) -> PlasticityResult:
    """The Sjostrom et al. 2001 frequency protocol, with the comparison at the published frequencies."""
    return plasticity("frequency", config, **settings)


sjostrom = frequency


def bcm(config: BcmRun | None = None, **settings) -> PlasticityResult:
    """The BCM protocol (cascade): LTD/LTP against stimulation frequency after an activity history."""
    return plasticity("bcm", config, **settings)


def ocular_dominance(config: OcularDominanceRun | None = None, *, show_progress: bool | None = None,
                     **settings) -> PlasticityResult:
    """Monocular deprivation from a steady binocular state, with its controls (cascade)."""
    return plasticity("ocular-dominance", config, show_progress=show_progress, **settings)


@dataclass(frozen=True)
class OdMapResult:
    """The cortical sheet's result (`lolpim plasticity od-map`): ``summary`` (the map's wavelength
    and bimodality, with deprivation its shift against the control, messages, wall time),
    ``timeline`` (the map statistics after each 10 s binocular segment), ``lateral`` (the
    wiring's facts), ``finished`` (False for the map of the last finished segment of a stopped
    run, OdMapInterrupted) and ``data`` (everything, the final weights as arrays included)."""
    config: OdMapRun
    finished: bool
    binocular_s: float
    summary: dict
    timeline: tuple
    lateral: dict
    data: dict

    def to_json(self) -> str:
        return json.dumps(sheet.result_json(self.data))

    def table(self) -> str:
        return sheet.summary_text(self.data)

    def write(self, out_dir: str | Path) -> list[Path]:
        """od_map.json, od_map.csv (a row per neuron) and od_map.png in ``out_dir``."""
        return sheet.write_outputs(self.data, Path(out_dir), self.config.size)

    def od_index(self):
        """The final OD index map, (right - left) / (right + left), as a size x size array (y, x)."""
        w = self.data["final"]["w"]
        return om.od_index(w[0], w[1]).reshape(self.config.size, self.config.size)

    def to_dataframe(self):
        """One row per binocular segment: the map statistics at its end (the table's rows)."""
        columns = tuple(self.timeline[0]) if self.timeline else ()
        return _dataframe(columns, self.timeline)


class OdMapInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during ``od_map``: ``result`` holds the map of the last finished
    binocular segment (None when none had finished)."""

    def __init__(self, result: OdMapResult | None):
        super().__init__("interrupted")
        self.result = result


def _od_map_result(run: OdMapRun, data: dict) -> OdMapResult:
    return OdMapResult(run, bool(data["finished"]), float(data["binocular_s"]), data["summary"],
                       tuple(data["timeline"]), data["lateral"], data)


def od_map(config: OdMapRun | None = None, *, show_progress: bool | None = None, **settings) -> OdMapResult:
    """Ocular-dominance map of a cortical sheet (OdMapRun's fields as settings: size,
    synapses, executor, processes, tiles, binocular_s, deprivation_s, sutured_rate_hz, seed).
    ``show_progress``: the progress bar on stderr (None: when stderr is a terminal). Ctrl-C
    raises OdMapInterrupted, which holds the map of the last finished segment."""
    run = _config(OdMapRun, config, settings)
    data: dict = {"finished": False}
    try:
        sheet.experiment(run, data, show_progress=sys.stderr.isatty() if show_progress is None else show_progress)
    except KeyboardInterrupt as stop:
        raise OdMapInterrupted(_od_map_result(run, data) if "final" in data else None) from stop
    return _od_map_result(run, data)


@dataclass(frozen=True)
class HebbianResult:
    """A Hebbian task's result: one entry per seed in ``runs``, everything in ``data`` (the CLI's JSON)."""
    task: str
    config: HebbianRun
    runs: tuple
    data: dict

    def to_json(self) -> str:
        return json.dumps(self.data)

    def table(self) -> str:
        return tasks.summary_text(self.data)

    def write(self, out_dir: str | Path) -> list[Path]:
        """results.json, curves.csv and learning_curves.png in ``out_dir``."""
        return tasks.write_outputs(Path(out_dir), self.data)

    def to_dataframe(self):
        """One row per seed: its accuracy (test for digits, recall for the table tasks)."""
        key = "test_accuracy" if self.task == "digits" else "recall_accuracy" if self.task == "multiply" \
            else "prime_factorisations_correct"
        return _dataframe(("seed", key), [(r["seed"], r[key]) for r in self.runs])


def hebbian(task: str | None = None, config: HebbianRun | None = None, **settings) -> HebbianResult:
    """Markov-chain Hebbian learning: ``task`` digits, multiply or factorize (HebbianRun's fields
    as settings: seeds, epochs, contacts, max_operand, numbers, executor, ...)."""
    if task is not None:
        settings["task"] = task
    run = _config(HebbianRun, config, settings)
    data = tasks.run_task(run)
    return HebbianResult(run.task, run, tuple(data["runs"]), data)


@dataclass(frozen=True)
class CbpResult:
    """CBP's runs (one per constraint, variant and seed), their summary (mean over seeds), the
    PIM costs when asked, and per run the training history and the packed layers."""
    config: CbpRun
    setup: dict
    runs: tuple
    summary: tuple
    pim: dict | None
    histories: dict
    packed: dict

    def to_json(self) -> str:
        return json.dumps({"setup": self.setup, "runs": list(self.runs), "summary": list(self.summary),
                           "pim": self.pim})

    def table(self) -> str:
        return training.summary_text(self._data())

    def write(self, out_dir: str | Path) -> None:
        """runs.csv, summary.csv, results.json, curves.png and the packed weights in ``out_dir``."""
        training.write_outputs(Path(out_dir), self._data())

    def to_dataframe(self):
        return _dataframe(tuple(self.summary[0]) if self.summary else (), self.summary)

    def _data(self) -> dict:
        return {"runs": list(self.runs), "summary": list(self.summary), "pim": self.pim,
                "histories": self.histories, "packed": self.packed}


def cbp(config: CbpRun | None = None, **settings) -> CbpResult:
    """Constrained backpropagation on digits (CbpRun's fields as settings: constraint, epochs,
    pretrain_epochs, seeds, hidden, p_max, ablation, pim, quiet)."""
    run = _config(CbpRun, config, settings)
    out = training.train(run)
    return CbpResult(run, out["setup"], tuple(out["runs"]), tuple(out["summary"]), out["pim"],
                     out["histories"], out["packed"])


__all__ = [
    "BcmRun",
    "CbpResult",
    "CbpRun",
    "FrequencyRun",
    "HebbianResult",
    "HebbianRun",
    "OcularDominanceRun",
    "OdMapInterrupted",
    "OdMapResult",
    "OdMapRun",
    "PairingRun",
    "PlasticityResult",
    "StdpRun",
    "bcm",
    "cbp",
    "frequency",
    "hebbian",
    "ocular_dominance",
    "od_map",
    "pairing",
    "plasticity",
    "sjostrom",
    "stdp",
]
