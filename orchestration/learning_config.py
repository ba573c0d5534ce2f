"""The typed configs of the learning runs: each plasticity protocol, Hebbian learning and CBP.

One frozen dataclass per run, declared with the one validation layer (core/schema.py). The same
declaration gives the CLI its flags (orchestration/flags.py: name, type, default, help), checks
the values given by flag or in Python (orchestration/api_learning.py), and names what is wrong
in one style: ``--pairs: got 0; allowed range: 1 .. 100000`` on the command line,
``'pairs': got 0; ...`` in Python. Flag names are the historical ones (``--frequency`` is
``frequency_hz``).
"""
from __future__ import annotations

from dataclasses import fields

from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.plasticity import ocular_dominance as od

MODELS = ("cascade", "graupner-brunel")
MAX_PAIRS = 100_000        # ~100 conditions x 2 events x 16 bytes per pair: 320 MB of schedule at the cap
MIN_FREQUENCY_HZ = 0.01    # a 100 s period: slower pairing is no protocol, and its simulated time grows without bound
MAX_FREQUENCY_HZ = 1000.0  # a 1 ms period, twice the cascade's finest step (0.5 ms)
MAX_HISTORY_S = 1e7        # ~4 months: beyond it the trace has long settled (tau 1 h)
MAX_HISTORY_RATE_HZ = 200.0
MAX_SIMULATED_S = 3600.0   # ocular dominance: one simulated hour, about 5 min at K x S = 1 x 10
MAX_SUTURED_RATE_HZ = 100.0     # residual activity of a sutured eye; the open eye's volleys are 3 Hz
MAX_SAMPLES = 100_000           # each sample synchronises every synapse
MAX_PROCESSES = 4096
MAX_SEED = 2**63 - 1
STEADY = od.SteadyState()
PARAMS_DOC = ("parameter set (cascade: hippocampal, cortical; Graupner-Brunel: DP, DPD, hippocampal-slices, "
              "hippocampal-cultures, cortical-slices)")
_OD = od.OcularDominanceConfig()   # the network's defaults: the run does not repeat them


def _protocol_needs_cascade(model: str, protocol: str) -> None:
    if model != "cascade":
        raise FieldProblem("model", f"protocol '{protocol}' needs the cascade model (Graupner-Brunel has no "
                                    "membrane voltage or bAP boosting)")


def _model(cascade_only: bool = False):
    return field(default="cascade", choices=MODELS, doc="synapse model" + ("; this protocol needs the cascade"
                                                                  if cascade_only else ""))


def _param_set(default: str):
    return field(default=None, doc=f"{PARAMS_DOC}; default {default}")


def _pairs(default: int, what: str):
    return field(default=default, min=1, max=MAX_PAIRS, doc=what)


def _frequency(default: float | None, what: str):
    return field(default=default, min=MIN_FREQUENCY_HZ, max=MAX_FREQUENCY_HZ, unit="Hz", flag="--frequency", doc=what)


def _executor():
    return field(default="inline", choices=("inline", "ray"), doc="inline (one process) or ray")


def _no_boost():
    return field(default=False, doc="cascade: switch synapse-specific bAP boosting off")


@frozen
class PairingRun:
    """Voltage-clamp pairing: presynaptic pulses at each holding potential, -75..0 mV (cascade only)."""
    model: str = _model(cascade_only=True)
    params: str | None = _param_set("hippocampal")
    pairs: int = _pairs(100, "presynaptic pulses under clamp")
    frequency_hz: float = _frequency(1.0, "pulse frequency in Hz")
    no_boost: bool = _no_boost()

    def __post_init__(self):
        _protocol_needs_cascade(self.model, "pairing")


@frozen
class StdpRun:
    """Spike-timing-dependent plasticity: a delta-t sweep of pre-post pairs, -100..+100 ms."""
    model: str = _model()
    params: str | None = _param_set("hippocampal (cascade), DP (Graupner-Brunel)")
    pairs: int = _pairs(60, "pre-post pairs per delta t")
    frequency_hz: float = _frequency(1.0, "pairing frequency in Hz")
    no_boost: bool = _no_boost()


@frozen
class FrequencyRun:
    """The Sjostrom et al. 2001 protocol: +10 and -10 ms pairs against pairing frequency."""
    model: str = _model()
    params: str | None = _param_set("cortical (cascade), cortical-slices (Graupner-Brunel)")
    frequency_hz: float | None = _frequency(None, "one pairing frequency in Hz (default: the sweep 0.1, 1, 5, "
                                                  "10, 20, 30, 40, 50 Hz)")
    no_boost: bool = _no_boost()


@frozen
class BcmRun:
    """900 presynaptic pulses at 1-100 Hz at rest after a history of postsynaptic activity (cascade only)."""
    model: str = _model(cascade_only=True)
    params: str | None = _param_set("cortical")
    history_rate_hz: float | None = field(default=None, min=0.0, max=MAX_HISTORY_RATE_HZ, unit="Hz",
                                          doc="postsynaptic rate before the protocol, Hz (default: the "
                                              "metaplastic target rate, 0.5 Hz: NMDA gain 1)")
    history_s: float | None = field(default=None, min=0.0, max=MAX_HISTORY_S, unit="s",
                                    doc="how long that history lasted, s (default 10800: three times "
                                        "the threshold's 1 h memory)")

    def __post_init__(self):
        _protocol_needs_cascade(self.model, "bcm")


@frozen
class OcularDominanceRun:
    """Monocular deprivation from a steady binocular state, with its controls: K neurons x 2 eyes x
    S synapses as block actors on the inline or Ray executor (cascade only)."""
    model: str = _model(cascade_only=True)
    params: str | None = _param_set("cortical")
    neurons: int = field(default=_OD.neurons, min=1, doc="neurons K")
    synapses: int = field(default=_OD.synapses_per_eye, min=1, doc="synapses per eye and neuron S")
    variant: str = field(default="network", choices=tuple(od.variant_names()),
                         doc="model variant from models/plasticity/presets/ocular_dominance.toml")
    seed: int = field(default=0, min=0, max=MAX_SEED, doc="seed of the input trains")
    executor: str = _executor()
    processes: int | None = field(default=None, min=1, max=MAX_PROCESSES,
                                  doc="with --executor ray: Ray processes, one block of neurons each (default 2)")
    address: str | None = field(default=None, doc="with --executor ray: join an existing Ray cluster (e.g. 'auto' or "
                                          "'ray://head:10001'); default: an embedded local Ray")
    blocks: int | None = field(default=None, min=1, doc="blocks of neurons, 1..K (default: --processes with ray, 1 "
                                                "inline; the results do not depend on it)")
    binocular_s: float | None = field(default=None, gt=0.0, unit="s",
                                      doc=f"a fixed binocular phase in s; the controls start from its end state "
                                          f"(default: until the mean weight's drift is below "
                                          f"{STEADY.drift_per_s:g}/s over {STEADY.window_s:g} s, checked every "
                                          f"{STEADY.check_s:g} s, at most {STEADY.max_s:g} s)")
    sutured_rate_hz: float = field(default=_OD.sutured_rate_hz, min=0.0, max=MAX_SUTURED_RATE_HZ, unit="Hz",
                                   doc="lid suture's uncorrelated residual rate in the deprived eye, Hz")
    deprivation_s: float = field(default=_OD.deprivation_s, gt=0.0, unit="s",
                                 doc="left-eye deprivation in s (the summary measures the shift over it)")
    recovery_s: float = field(default=_OD.recovery_s, min=0.0, unit="s", doc="recovery with both eyes open in s")
    sample_s: float | None = field(default=None, gt=0.0, unit="s",
                                   doc=f"weight sample interval in s (default {_OD.sample_interval_s:g}, "
                                       "shortened to fall on every phase boundary)")
    progress: bool = field(default=False, doc="show the progress bar on stderr even when it is not a terminal")

    def __post_init__(self):
        _protocol_needs_cascade(self.model, "ocular-dominance")
        longest = self.longest_s()
        if longest > MAX_SIMULATED_S:
            raise FieldProblem("binocular_s", f"the phases (this, default until settled: at most {STEADY.max_s:g} s; "
                                              f"{{deprivation_s}}; {{recovery_s}}) must total at most "
                                              f"{MAX_SIMULATED_S:g} s (1,000 ticks per simulated second; the inputs "
                                              f"are drawn per neuron for the whole run), got {longest:g}")
        if self.sample_s is not None:
            if self.sample_s > self.deprivation_s:
                raise FieldProblem("sample_s", f"must be at most {{deprivation_s}} ({self.deprivation_s:g} s), "
                                               f"got {self.sample_s:g}")
            if longest / self.sample_s > MAX_SAMPLES:
                raise FieldProblem("sample_s", f"must be >= {longest / MAX_SAMPLES:.3g} s (at most {MAX_SAMPLES} "
                                               f"samples over {longest:g} s), got {self.sample_s:g}")
        if self.executor == "inline":
            for name in ("processes", "address"):
                if getattr(self, name) is not None:
                    raise FieldProblem(name, "needs {executor} ray (the inline executor is one process)")
        if self.blocks is not None and self.blocks > self.neurons:
            raise FieldProblem("blocks", f"got {self.blocks}; allowed range: 1 .. {self.neurons} (the neurons, "
                                         "{neurons})")

    def longest_s(self) -> float:
        """The binocular phase (at its longest when it runs until settled) plus the deprivation run."""
        binocular = STEADY.max_s if self.binocular_s is None else self.binocular_s
        return binocular + self.deprivation_s + self.recovery_s


# the cortical sheet (`lolpim plasticity od-map`) ------------------------------------------------

MAX_SHEET_SIZE = 256              # neurons per side
MAX_SHEET_SYNAPSES = 10_000       # per eye and neuron
MAX_SHEET_PROCESSES = 64
OD_MAP_SEGMENT_S = 10.0           # the binocular phase runs in pieces this long (statistics, Ctrl-C)


def _whole_ms(name: str, seconds: float) -> None:
    """The sheet ticks in whole ms: a phase that ends between two ticks has no last tick."""
    if round(seconds * 1000) != seconds * 1000:
        raise FieldProblem(name, f"must be a number of seconds in whole ms, got {seconds:g}")


@frozen
class OdMapRun:
    """Ocular-dominance columns on an N x N sheet of cascade neurons with lateral connections: a
    binocular phase, the OD map with its wavelength and bimodality, then optionally left-eye lid
    suture against a binocular control from the same state (tiles as actors, inline or Ray)."""
    size: int = field(default=16, min=4, max=MAX_SHEET_SIZE, doc="neurons per side N")
    synapses: int = field(default=100, min=1, max=MAX_SHEET_SYNAPSES, doc="cascade synapses per eye and neuron S")
    executor: str = _executor()
    processes: int | None = field(default=None, min=1, max=MAX_SHEET_PROCESSES,
                                  doc="with --executor ray: Ray processes (default 2)")
    tiles: str | None = field(default=None, doc="tiles across x down, e.g. 2x2 (default 1 x processes: one row "
                                                "of tiles per process)")
    binocular_s: float = field(default=100.0, min=1.0, unit="s",
                               doc=f"binocular phase in s, run in {OD_MAP_SEGMENT_S:g} s segments")
    deprivation_s: float = field(default=0.0, min=0.0, unit="s",
                                 doc="left-eye lid suture and its binocular control from the end state, s each "
                                     "(default 0: none)")
    sutured_rate_hz: float = field(default=1.0, min=0.0, max=MAX_SUTURED_RATE_HZ, unit="Hz",
                                   doc="lid suture's residual rate in the deprived eye, Hz")
    seed: int = field(default=0, min=0, max=MAX_SEED, doc="seed of the inputs")
    eye_threads: int = field(default=1, min=1, max=2, doc="2: each tile's two eyes step in two threads (the same "
                                                          "results; faster only with a free core)")
    progress: bool = field(default=False, doc="show the progress bar on stderr even when it is not a terminal")

    def __post_init__(self):
        _whole_ms("binocular_s", self.binocular_s)
        _whole_ms("deprivation_s", self.deprivation_s)
        total = self.binocular_s + self.deprivation_s
        if total > MAX_SIMULATED_S:
            raise FieldProblem("binocular_s", f"plus {{deprivation_s}} must be at most {MAX_SIMULATED_S:g} s, "
                                              f"got {total:g}")
        if self.executor == "inline" and self.processes is not None:
            raise FieldProblem("processes", "needs {executor} ray (the inline executor is one process)")
        if self.tiles is not None:
            parts = self.tiles.lower().split("x")
            if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
                raise FieldProblem("tiles", f"must be AxB (tiles across x tiles down, e.g. 2x2), got {self.tiles!r}")
            if not all(1 <= int(p) <= self.size for p in parts):
                raise FieldProblem("tiles", f"got {self.tiles!r}; each count must be in 1 .. {self.size} (the "
                                            "sheet's side, {size})")
        tx, ty = self.tile_counts()
        processes = self.process_count()
        if self.executor == "ray" and self.tiles is None and processes > self.size:
            raise FieldProblem("processes", f"got {processes}; the default tiling is one row of tiles per process, "
                                            f"and the sheet has {self.size} rows ({{size}}); give {{tiles}}")
        if self.executor == "ray" and tx * ty < processes:
            raise FieldProblem("processes", f"{processes} needs at least as many tiles; {{tiles}} {tx}x{ty} makes "
                                            f"{tx * ty}")

    def process_count(self) -> int:
        """Processes the sheet runs in: 1 inline, else --processes (default 2)."""
        return 1 if self.executor == "inline" else 2 if self.processes is None else self.processes

    def tile_counts(self) -> tuple[int, int]:
        """(tiles across, tiles down): --tiles, else one row of tiles per process."""
        if self.tiles is None:
            return 1, self.process_count()
        across, down = self.tiles.lower().split("x")
        return int(across), int(down)


PROTOCOL_RUNS: dict[str, type] = {"pairing": PairingRun, "stdp": StdpRun, "frequency": FrequencyRun,
                                  "bcm": BcmRun, "ocular-dominance": OcularDominanceRun}

# Hebbian learning -------------------------------------------------------------------------------

HEBBIAN_TASKS = ("digits", "multiply", "factorize")
MAX_HEBBIAN_EPOCHS = 10_000
MAX_HEBBIAN_SEEDS = 1_000
# fields that apply to some tasks only: given for another task, they are refused, not ignored
ONLY_FOR = {"epochs": ("digits",), "contacts": ("digits",), "idx_dir": ("digits",), "module": ("digits",),
            "max_operand": ("multiply", "factorize"), "numbers": ("factorize",)}


@frozen
class HebbianRun:
    """Markov-chain Hebbian learning with ternary synapses: digits, the multiplication table, factorisation."""
    task: str = field(choices=HEBBIAN_TASKS, flag="task", doc="what to learn")
    numbers: tuple[int, ...] = field(default=(), min=2, flag="numbers", doc="factorize: numbers (default 4..81)")
    seed: int = field(default=0, min=0, max=MAX_SEED, doc="first seed (default 0)")
    seeds: int | None = field(default=None, min=1, max=MAX_HEBBIAN_SEEDS, doc="number of seeds (default 5 for digits, "
                                                                       "else 1)")
    epochs: int | None = field(default=None, min=1, max=MAX_HEBBIAN_EPOCHS, doc="digits: training epochs (default 10)")
    contacts: int | None = field(default=None, min=1, doc="digits: output neurons per class (default 10)")
    idx_dir: str | None = field(default=None, doc="digits: folder with a local MNIST copy (IDX files) instead of "
                                          "load_digits")
    max_operand: int | None = field(default=None, min=2, max=64, doc="multiply: table 1..N (default 9); factorize: "
                                                            "default large enough for the numbers")
    executor: str = field(default="direct", choices=("direct", "inline", "ray"),
                          doc="multiply/factorize: direct = train in this process (default); inline/ray = train "
                              "inside the actor system (teacher + one synapse-population actor per layer)")
    module: str | None = field(default=None, doc="digits: PIM module preset for the inference cost "
                                                 "(default lolpim-module)")

    def __post_init__(self):
        for name, tasks in ONLY_FOR.items():
            if getattr(self, name) not in (None, ()) and self.task not in tasks:
                raise FieldProblem(name, f"applies to {' and '.join(tasks)} only, not '{self.task}'; drop it")
        if self.task == "digits" and self.executor != "direct":
            raise FieldProblem("executor", "inline|ray is for 'multiply' and 'factorize'")
        largest = max(self.numbers, default=0)
        if self.task == "factorize" and (self.max_operand or (largest + 1) // 2) > 64:
            raise FieldProblem("numbers", f"numbers up to {largest} need a table 1..{(largest + 1) // 2}; the "
                                          "largest is 1..64")

    @property
    def seed_count(self) -> int:
        return self.seeds if self.seeds is not None else 5 if self.task == "digits" else 1


# constrained backpropagation --------------------------------------------------------------------

CONSTRAINTS = ("binary", "ternary", "shift1", "shift2")
MAX_CBP_EPOCHS = 1_000_000
MAX_CBP_SEEDS = 10_000


@frozen
class CbpRun:
    """Constrained backpropagation on scikit-learn's digits: pretrain, then post-train under a weight constraint."""
    constraint: str = field(default="binary", choices=CONSTRAINTS + ("all",),
                            doc="weight level set; 'all' runs the four")
    epochs: int = field(default=300, min=1, max=MAX_CBP_EPOCHS, doc="CBP post-training epochs")
    pretrain_epochs: int = field(default=40, min=1, max=MAX_CBP_EPOCHS, doc="full-precision pretraining epochs")
    seed: int = field(default=0, min=0, max=MAX_SEED, doc="first seed")
    seeds: int = field(default=1, min=1, max=MAX_CBP_SEEDS, doc="number of seeds from --seed")
    hidden: tuple[int, ...] = field(default=(128, 128, 128), min=1, doc="hidden layer widths (two or more)")
    p_max: int = field(default=20, min=1, max=MAX_CBP_EPOCHS,
                       doc="max epochs between lambda/g updates (as in the paper)")
    ablation: bool = field(default=False, doc="also run rounding+fine-tuning and CBP without the window")
    pim: bool = field(default=False, doc="charge each exported layer's GEMV on the PIM module model")
    quiet: bool = field(default=False, doc="no progress bar")

    def __post_init__(self):
        if len(self.hidden) < 2:
            raise FieldProblem("hidden", f"got {len(self.hidden)} layer(s); give two or more, so that at least one "
                                         "weight layer sits between the full-precision first and last layers")


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
