"""A cortical sheet of cascade neurons where ocular-dominance columns form (`lolpim plasticity od-map`).

N x N neurons on a torus (periodic boundary), each with S cascade synapses per eye (the OD
network's synapses, EyeBlock, and its LIF soma, NeuronBlock: models/plasticity/ocular_dominance.py),
plus static lateral connections between the neurons: a difference of Gaussians (the shape of the
"Mexican hat" cortical interaction of Miller, Keller & Stryker 1989; in the preset net inhibitory at
every distance, weakest next door, strongest two apart). Columns form from three things together:
the two eyes' synapses of a neuron compete through its bAPs and a per-neuron synaptic conservation,
neighbours share an eye's input events (within-eye correlation), and the inhibition lets, within
one event, the neurons that fire first silence those a few apart (docs/od-map.md, "Why the spectra
are red", measures each against controls).

Inputs (SheetConfig; docs/od-map.md): per eye, retinal-wave-like events (Wong, Meister & Shatz
1993: spontaneous activity correlated within an eye and independent between the eyes) land at
random places on the sheet; an event at distance d from a neuron makes each of the neuron's
synapses of that eye join a volley with probability volley_probability x contrast x
exp(-d^2 / (2 event_sigma^2)), each joining synapse firing once within event_duration_ms of it.
Events of the two eyes are independent; neighbours share an eye's events (within-eye correlation
falling with distance: the retinotopy the columns need). Every
synapse also fires independent background spikes. Everything is a pure function of (seed, eye,
1 s chunk, phase) for the events and (seed, neuron, eye, chunk, phase) for a neuron's spikes, so
any tiling of the sheet and any executor see the same inputs.

Neurons are numbered row-major: id = y N + x. The map statistics at the end (OD index, its
wavelength from the radially averaged 2-D power spectrum, Sarle's bimodality coefficient) are
pure functions of the final weights.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from lolpim.core.errors import ParameterError
from lolpim.core.presets import read_toml
from lolpim.core.schema import FieldProblem, field, frozen
from lolpim.models.plasticity import ocular_dominance as od

SHEET_FILE = Path(__file__).parent / "presets" / "od_map.toml"
CHUNK_S = od.CHUNK_S
CONDITIONS = ("binocular", "lid_suture")
# per neuron, every normalise_interval_s: "subtractive" takes the same amount off (or adds it to) each
# of the neuron's synapses of both eyes so their summed phosphorylation stays at its initial value
# (the synaptic conservation of Miller, Keller & Stryker 1989; Miller & MacKay 1994), within [0, 1];
# "none" leaves the cascade alone (the control)
NORMALISATIONS = ("subtractive", "none")     # the deprived (left) eye over the deprivation interval
# model fields of the [sheet] table that override the OD variant's neuron (the sheet's neuron model
# is the variant plus these: one place to change it)
NEURON_OVERRIDES = ("eye_epsp_mV",)


@frozen
class SheetConfig:
    """The sheet's inputs, wiring and run (defaults: the preset, presets/od_map.toml, which load_sheet reads)."""
    size: int = field(default=16, min=1, doc="neurons per side")
    synapses_per_eye: int = field(default=100, min=1)
    event_rate_hz: float = field(default=3.0, min=0.0, unit="Hz")
    event_sigma: float = field(default=0.8, gt=0.0)
    event_cutoff_sigmas: float = field(default=3.0, gt=0.0)
    volley_probability: float = field(default=0.6, min=0.0, max=1.0)
    contrast_spread: float = field(default=0.5, min=0.0, max=1.0)
    event_duration_ms: float = field(default=0.0, min=0.0, max=1000.0, unit="ms",
                                     doc="each joining synapse fires once at a uniform time within this span "
                                         "after the event (0: one synchronous volley)")
    background_rate_hz: float = field(default=1.0, min=0.0, unit="Hz")
    # the two eyes' latencies (two: __post_init__)
    eye_latency_ms: tuple[float, ...] = field(default=(0.0, 0.5), min=0.0, lt=1.0, unit="ms")
    lateral_radius: float = field(default=6.0, min=0.0)
    lateral_exc_mV: float = field(default=6.0, min=0.0, unit="mV")
    lateral_exc_sigma: float = field(default=0.8, gt=0.0)
    lateral_inh_mV: float = field(default=1.05, min=0.0, unit="mV")
    lateral_inh_sigma: float = field(default=2.2, gt=0.0)
    # nearest and farthest delay, whole ms (two, the first <= the second: __post_init__)
    lateral_delay_ms: tuple[int, ...] = field(default=(1, 5), min=1, unit="ms")
    # synaptic conservation per neuron
    normalisation: str = field(default="subtractive", choices=NORMALISATIONS)
    normalise_interval_s: float = field(default=1.0, gt=0.0, unit="s")
    binocular_s: float = field(default=60.0, min=0.0, unit="s")
    deprivation_s: float = field(default=0.0, min=0.0, unit="s")
    # the deprived eye's input over the deprivation interval
    condition: str = field(default="binocular", choices=CONDITIONS)
    sutured_rate_hz: float = field(default=1.0, min=0.0, unit="Hz")
    sample_interval_s: float = field(default=5.0, gt=0.0, unit="s")
    start_s: float = field(default=0.0, min=0.0, unit="s", doc="a run resumed from a snapshot starts here")

    def __post_init__(self):   # after the declared ranges
        if len(self.lateral_delay_ms) != 2 or self.lateral_delay_ms[0] > self.lateral_delay_ms[1]:
            raise FieldProblem("lateral_delay_ms", f"must be two whole numbers of ms, 1 <= first <= second, "
                                                   f"got {list(self.lateral_delay_ms)!r}")
        if len(self.eye_latency_ms) != 2:
            raise FieldProblem("eye_latency_ms", f"must be two values (ms), got {list(self.eye_latency_ms)!r}")
        if self.duration_s() <= 0:
            raise FieldProblem("binocular_s", "the phases must last longer than 0 s in all")
        if self.start_s >= self.duration_s():
            raise FieldProblem("start_s", f"must be before the end of the run ({self.duration_s():g} s), "
                                          f"got {self.start_s!r}")

    @property
    def neurons(self) -> int:
        return self.size * self.size

    def duration_s(self) -> float:
        return self.binocular_s + self.deprivation_s

    def phases(self) -> list[tuple[str, float, float, tuple[bool, bool]]]:
        """(name, start, end, (left eye's events on?, right eye's?)) for each phase with a duration."""
        out = [("binocular", 0.0, self.binocular_s, (True, True))]
        if self.deprivation_s > 0:
            out.append(("deprivation", self.binocular_s, self.duration_s(), (self.condition == "binocular", True)))
        return [p for p in out if p[2] > p[1]]

    def background_hz(self, phase: str, eye: int) -> float:
        if phase == "deprivation" and eye == od.DEPRIVED_EYE and self.condition == "lid_suture":
            return self.sutured_rate_hz
        return self.background_rate_hz

    def to_dict(self) -> dict:
        return {**asdict(self), "eye_latency_ms": list(self.eye_latency_ms),
                "lateral_delay_ms": list(self.lateral_delay_ms)}


def load_sheet(**overrides) -> tuple[SheetConfig, od.Variant]:
    """The [sheet] preset: its SheetConfig (with ``overrides``) and the sheet's neuron model (the OD
    variant it names, with the neuron overrides of NEURON_OVERRIDES, which ``overrides`` may also set)."""
    table = dict(read_toml(SHEET_FILE, "sheet")["sheet"])
    variant = od.load_variant(table.pop("variant"))
    neuron = {k: table.pop(k) for k in NEURON_OVERRIDES if k in table}
    neuron.update({k: overrides.pop(k) for k in NEURON_OVERRIDES if k in overrides})
    variant = replace(variant, neuron=replace(variant.neuron, **neuron),
                      description=variant.description + "; on the sheet: " +
                      ", ".join(f"{k} = {v:g}" for k, v in neuron.items()))
    known = {f.name for f in fields(SheetConfig)}
    for key in list(table) + list(overrides):
        if key not in known:
            raise ParameterError(key, f"not a sheet field; allowed: {sorted(known)}")
    for key in ("eye_latency_ms", "lateral_delay_ms"):
        if key in table:
            table[key] = tuple(table[key])
    return SheetConfig(**{**table, **overrides}), variant


# -- geometry -----------------------------------------------------------------------------------


def torus_delta(a, b, size: int):
    """Signed shortest difference b - a on a ring of ``size``."""
    d = (np.asarray(b) - np.asarray(a)) % size
    return np.where(d > size / 2, d - size, d)


@dataclass(frozen=True)
class Lateral:
    """The offsets (dx, dy) every neuron sends to (the same for all: the sheet is a torus), each
    with its somatic jump (mV, signed) and delay (whole ms)."""
    dx: np.ndarray
    dy: np.ndarray
    weight_mV: np.ndarray
    delay_ms: np.ndarray

    @property
    def count(self) -> int:
        return int(self.dx.size)


def lateral(cfg: SheetConfig) -> Lateral:
    """Difference of Gaussians within lateral_radius (on a sheet smaller than twice the radius,
    each offset counts once: the offsets are taken within half the sheet)."""
    r = int(math.floor(cfg.lateral_radius))
    half = cfg.size // 2
    span = range(-min(r, half), min(r, (cfg.size - 1) // 2) + 1)
    dx, dy = np.meshgrid(np.array(span), np.array(span), indexing="xy")
    dx, dy = dx.ravel(), dy.ravel()
    d = np.hypot(dx, dy)
    keep = (d > 0) & (d <= cfg.lateral_radius)
    dx, dy, d = dx[keep], dy[keep], d[keep]
    w = cfg.lateral_exc_mV * np.exp(-d ** 2 / (2 * cfg.lateral_exc_sigma ** 2)) \
        - cfg.lateral_inh_mV * np.exp(-d ** 2 / (2 * cfg.lateral_inh_sigma ** 2))
    lo, hi = cfg.lateral_delay_ms
    far = max(float(d.max()) if d.size else 1.0, 1.0)
    delay = lo + np.rint((hi - lo) * (d - 1.0) / max(far - 1.0, 1e-12)).astype(np.int64) if d.size else d
    delay = np.clip(delay, lo, hi).astype(np.int64)
    order = np.lexsort((dx, dy))
    return Lateral(dx[order].astype(np.int64), dy[order].astype(np.int64), w[order], delay[order])


def interaction_spectrum(cfg: SheetConfig, k_cycles_per_neuron):
    """Fourier transform of the lateral interaction (its difference of Gaussians, untruncated,
    summed over the lattice) at spatial frequencies k (cycles per neuron): the rate-model
    prediction of Miller, Keller & Stryker 1989 puts the columns' frequency near its peak."""
    k = np.asarray(k_cycles_per_neuron, dtype=float)
    w = 2 * np.pi * k
    exc = cfg.lateral_exc_mV * 2 * np.pi * cfg.lateral_exc_sigma ** 2 * np.exp(-(w * cfg.lateral_exc_sigma) ** 2 / 2)
    inh = cfg.lateral_inh_mV * 2 * np.pi * cfg.lateral_inh_sigma ** 2 * np.exp(-(w * cfg.lateral_inh_sigma) ** 2 / 2)
    return exc - inh


# The rate model's gain of a neuron per mV of somatic jump, for development_spectrum: a jump of the
# size of one eye's volley at full contrast and weight 1 (about 16 mV) counts as one unit of the
# feed-forward drive. A stated guess, not a fit: the spectrum's peak moves by at most one bin over
# gains 1/32 to 1/10 per mV (docs/od-map.md).
RATE_GAIN_PER_MV = 1.0 / 16.0


def development_growth(cfg: SheetConfig, gain_per_mV: float = RATE_GAIN_PER_MV) -> np.ndarray:
    """Growth rate of each 2-D spatial frequency of the OD map in the linear rate model of this
    sheet (an N x N array indexed like np.fft.fft2: [ky, kx] in cycles per side).

    Each neuron's synapses of an eye all sit at the neuron's own place (no arbors), so the
    difference of the eyes' weights D evolves as dD_x/dt ~ sum_y G(x - y) C(x - y) D_y: the
    product *in space* of G, the rate response of neuron x to drive at y through the lateral
    wiring (G = (1 - g J)^-1 on the torus, J the wiring in mV, g gain_per_mV), and C, the
    within-eye input correlation exp(-d^2 / (4 event_sigma^2)). (With wide arbors, Miller, Keller
    & Stryker 1989, the interaction's own spectrum sets the wavelength instead.)"""
    n = cfg.size
    lat = lateral(cfg)
    wiring = np.zeros((n, n))
    np.add.at(wiring, (lat.dy % n, lat.dx % n), lat.weight_mV)
    loop = gain_per_mV * np.real(np.fft.fft2(wiring))
    if not np.all(loop < 1.0):
        raise ParameterError("gain_per_mV", f"must keep the linear network stable (gain x the wiring's spectrum "
                                            f"below 1); got {gain_per_mV:g} per mV, largest {loop.max():.2f}")
    response = np.real(np.fft.ifft2(1.0 / (1.0 - loop)))
    d = torus_delta(0, np.arange(n), n)
    kernel = response * np.exp(-(d[None, :] ** 2 + d[:, None] ** 2) / (4 * cfg.event_sigma ** 2))
    return np.real(np.fft.fft2(kernel))


def development_spectrum(cfg: SheetConfig, gain_per_mV: float = RATE_GAIN_PER_MV) -> tuple[np.ndarray, np.ndarray]:
    """development_growth averaged over rings like radial_power_spectrum: (k 1..N/2, growth)."""
    return ring_mean(development_growth(cfg, gain_per_mV))


def predicted_wavelength(cfg: SheetConfig, gain_per_mV: float = RATE_GAIN_PER_MV) -> float:
    """The linear rate model's fastest-growing OD wavelength on this sheet (neurons): N / k at the
    peak of development_spectrum; the sheet's own side when the largest scale grows fastest."""
    ks, growth = development_spectrum(cfg, gain_per_mV)
    return cfg.size / float(ks[int(np.argmax(growth))])


# -- inputs -------------------------------------------------------------------------------------


def events(cfg: SheetConfig, seed: int, eye: int, chunk: int):
    """One eye's events in chunk [chunk, chunk + 1) s, every phase piece from its own stream:
    (times, x, y, contrast), sorted in time. Their density over the sheet is event_rate_hz /
    (2 pi event_sigma^2) per neuron area, so a neuron sees event_rate_hz events' worth of full
    strength per second."""
    t0, t1 = chunk * CHUNK_S, min((chunk + 1) * CHUNK_S, cfg.duration_s())
    density = cfg.event_rate_hz / (2 * np.pi * cfg.event_sigma ** 2)
    parts = []
    for phase_id, (_, start, end, on) in enumerate(cfg.phases()):
        a, b = max(t0, start), min(t1, end)
        if b <= a or not on[eye] or density <= 0:
            continue
        rng = np.random.default_rng([seed, eye, chunk, phase_id, 11])
        n = rng.poisson(density * cfg.neurons * (b - a))
        t = rng.uniform(a, b, n)
        x, y = rng.uniform(0, cfg.size, n), rng.uniform(0, cfg.size, n)
        c = 1.0 - cfg.contrast_spread * rng.random(n)
        parts.append((t, x, y, c))
    if not parts:
        z = np.zeros(0)
        return z, z, z, z
    t, x, y, c = (np.concatenate(v) for v in zip(*parts))
    order = np.argsort(t, kind="stable")
    return t[order], x[order], y[order], c[order]


def neuron_spikes(cfg: SheetConfig, seed: int, neuron: int, eye: int, chunk: int, ev) -> tuple[np.ndarray, np.ndarray]:
    """Presynaptic spikes of one neuron's synapses of one eye in the chunk: (times, synapse 0..S-1)."""
    return neurons_spikes(cfg, seed, [neuron], eye, chunk, ev)[0]


GEOMETRY_BLOCK = 256        # neurons whose distances to the chunk's events are computed together


def neurons_spikes(cfg: SheetConfig, seed: int, neurons, eye: int, chunk: int, ev) -> list:
    """neuron_spikes of each of ``neurons`` (global ids): the distances to the chunk's events for a
    block of neurons at once (the same arithmetic element by element), the draws neuron by neuron
    from each neuron's own stream."""
    t0, t1 = chunk * CHUNK_S, min((chunk + 1) * CHUNK_S, cfg.duration_s())
    s = cfg.synapses_per_eye
    e_t, e_x, e_y, e_c = ev
    reach = cfg.event_cutoff_sigmas * cfg.event_sigma
    latency = cfg.eye_latency_ms[eye] * 1e-3
    pieces = []
    for phase_id, (name, start, end, _) in enumerate(cfg.phases()):
        a, b = max(t0, start), min(t1, end)
        if b > a:
            pieces.append((phase_id, name, a, b, end, (e_t >= a) & (e_t < b)))
    ids = np.asarray(neurons, dtype=np.int64)
    out = []
    for first in range(0, ids.size, GEOMETRY_BLOCK):
        block = ids[first:first + GEOMETRY_BLOCK]
        x, y = (block % cfg.size)[:, None], (block // cfg.size)[:, None]
        d2 = torus_delta(x + 0.5, e_x[None, :], cfg.size) ** 2 + torus_delta(y + 0.5, e_y[None, :], cfg.size) ** 2
        strength = e_c[None, :] * np.exp(-d2 / (2 * cfg.event_sigma ** 2))
        near = d2 <= reach * reach
        for row, neuron in enumerate(block):
            times, syn = [], []
            for phase_id, name, a, b, end, in_piece in pieces:
                own = np.random.default_rng([seed, int(neuron), eye, chunk, phase_id, 7])
                hit = np.flatnonzero(near[row] & in_piece)
                if hit.size:
                    # one row of S draws per event, in event order: the stream of one own.random(S) per event
                    draws = own.random((hit.size, s))
                    arrival = e_t[hit] + latency
                    joins = (draws < (cfg.volley_probability * strength[row, hit])[:, None]) & (arrival < end)[:, None]
                    r, col = np.nonzero(joins)      # row-major: by event, then synapse, as one event at a time
                    t = arrival[r]
                    if cfg.event_duration_ms > 0:
                        # the event's spikes spread over its span, drawn after the volley (so a span
                        # of 0 leaves the stream as it was); a spike past the chunk is dropped
                        t = t + own.random(t.size) * (cfg.event_duration_ms * 1e-3)
                        keep = t < min(end, t1)
                        t, col = t[keep], col[keep]
                    times.append(t)
                    syn.append(col)
                od.add_background(own, cfg.background_hz(name, eye), a, b, s, times, syn)
            out.append(od.joined_spikes(times, syn))
    return out


def normalise_subtractive(p_left, p_right, synapses_per_eye: int, p_initial: float) -> None:
    """In place: per neuron (rows of S synapses in each eye's column of phosphorylation), shift
    every synapse of both eyes by the same amount so the neuron's total is 2 S p_initial, then
    clip to [0, 1] (a clipped synapse keeps its share of the shift out: the total is then
    approximate, as in Miller et al.'s bounded weights)."""
    s = synapses_per_eye
    left, right = p_left.reshape(-1, s), p_right.reshape(-1, s)
    excess = (left.sum(axis=1) + right.sum(axis=1) - 2 * s * p_initial) / (2 * s)
    left -= excess[:, None]
    right -= excess[:, None]
    np.clip(left, 0.0, 1.0, out=left)
    np.clip(right, 0.0, 1.0, out=right)


# -- tiles --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """Neurons x in [x0, x1), y in [y0, y1) of the sheet; local ids row-major within the tile."""
    index: int
    x0: int
    x1: int
    y0: int
    y1: int

    @property
    def count(self) -> int:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    def global_ids(self, size: int) -> np.ndarray:
        ys, xs = np.meshgrid(np.arange(self.y0, self.y1), np.arange(self.x0, self.x1), indexing="ij")
        return (ys * size + xs).ravel()


def tiling(size: int, tiles_x: int, tiles_y: int) -> list[Tile]:
    """The sheet cut into tiles_x x tiles_y rectangles (as equal as whole neurons allow)."""
    for name, n in (("tiles_x", tiles_x), ("tiles_y", tiles_y)):
        if not (isinstance(n, int) and 1 <= n <= size):
            raise ParameterError(name, f"must be an integer in 1..{size} (the sheet's side), got {n!r}")
    out: list[Tile] = []
    for j in range(tiles_y):
        for i in range(tiles_x):
            out.append(Tile(len(out), i * size // tiles_x, (i + 1) * size // tiles_x,
                            j * size // tiles_y, (j + 1) * size // tiles_y))
    return out


def tiles_reached(tile: Tile, tiles: list[Tile], lat: Lateral, size: int) -> list[int]:
    """The other tiles that some neuron of ``tile`` sends a lateral connection into."""
    xs = (np.arange(tile.x0, tile.x1)[:, None] + np.unique(lat.dx)[None, :]).ravel() % size
    ys = (np.arange(tile.y0, tile.y1)[:, None] + np.unique(lat.dy)[None, :]).ravel() % size
    xs, ys = np.unique(xs), np.unique(ys)
    out = []
    for other in tiles:
        if other.index == tile.index:
            continue
        if np.any((xs >= other.x0) & (xs < other.x1)) and np.any((ys >= other.y0) & (ys < other.y1)):
            out.append(other.index)
    return out


def expand_lateral(spike_t, spike_src, tile: Tile, lat: Lateral, size: int):
    """The lateral inputs that spikes (times, global source ids) make in ``tile``: (arrival times,
    local target ids, jumps in mV, source ids), in no particular order."""
    if not spike_t.size:
        z = np.zeros(0)
        return z, np.zeros(0, dtype=np.int64), z, np.zeros(0, dtype=np.int64)
    sx, sy = spike_src % size, spike_src // size
    tx = (sx[:, None] + lat.dx[None, :]) % size
    ty = (sy[:, None] + lat.dy[None, :]) % size
    inside = (tx >= tile.x0) & (tx < tile.x1) & (ty >= tile.y0) & (ty < tile.y1)
    spike_i, off_i = np.nonzero(inside)
    local = (ty[spike_i, off_i] - tile.y0) * (tile.x1 - tile.x0) + (tx[spike_i, off_i] - tile.x0)
    arrival = spike_t[spike_i] + lat.delay_ms[off_i] * 1e-3
    return arrival, local.astype(np.int64), lat.weight_mV[off_i], spike_src[spike_i]


# -- map statistics -----------------------------------------------------------------------------


def od_index(w_left, w_right) -> np.ndarray:
    """(right - left) / (right + left) of each neuron's mean weights: +1 right-eye (open eye under
    deprivation) only, -1 left only."""
    w_left, w_right = np.asarray(w_left, dtype=float), np.asarray(w_right, dtype=float)
    total = w_left + w_right
    return np.where(total > 0, (w_right - w_left) / np.where(total > 0, total, 1.0), 0.0)


def radial_power_spectrum(image) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power of a square map's 2-D FFT (mean removed): (k in cycles per side,
    integer bins 1..side/2, power). Bin k holds frequencies with |k| in [k - 0.5, k + 0.5)."""
    a = np.asarray(image, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError("image", f"must be a square 2-D map, got shape {a.shape}")
    return ring_mean(np.abs(np.fft.fft2(a - a.mean())) ** 2)


def ring_bins(n: int) -> np.ndarray:
    """The ring of each entry of an n x n array indexed like np.fft.fft2 (frequency or lag):
    |k| rounded to a whole number of cycles per side (or neurons)."""
    f = np.fft.fftfreq(n) * n
    return np.rint(np.hypot(f[None, :], f[:, None])).astype(int)


def ring_mean(spectrum_2d) -> tuple[np.ndarray, np.ndarray]:
    """A square array indexed like np.fft.fft2, averaged over rings |k| in [k - 0.5, k + 0.5)
    cycles per side: (k 1..N/2, mean)."""
    n = spectrum_2d.shape[0]
    bins = ring_bins(n)
    ks = np.arange(1, n // 2 + 1)
    return ks, np.array([spectrum_2d[bins == b].mean() for b in ks])


def wavelength(image) -> dict:
    """The map's characteristic wavelength: side / k at the peak of the radial spectrum, the peak
    refined by a parabola through the peak bin and its neighbours (in k); also the peak's
    prominence, its power over the mean power of all bins."""
    ks, p = radial_power_spectrum(image)
    n = np.asarray(image).shape[0]
    if not np.any(p > 0):
        return {"wavelength_neurons": None, "peak_k": None, "prominence": None}
    i = int(np.argmax(p))
    k_peak = float(ks[i])
    if 0 < i < len(p) - 1:
        a, b, c = p[i - 1], p[i], p[i + 1]
        denom = a - 2 * b + c
        if denom < 0:
            k_peak += 0.5 * (a - c) / denom
    return {"wavelength_neurons": n / k_peak, "peak_k": k_peak, "prominence": float(p[i] / p.mean())}


# J0's first minimum, 3.8317 / (2 pi): the radially averaged autocorrelation of an isotropic map
# whose power sits on one ring of wavelength L is J0(2 pi r / L), so its first trough is at 0.61 L
# (a map of parallel stripes has it at 0.5 L: the same trough then reads 1.22x too long)
J0_TROUGH_FRACTION = 3.8317 / (2 * np.pi)


def radial_autocorrelation(image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A square map's autocorrelation on the torus (mean removed, 1 at distance 0), averaged over
    rings of distance as in ring_mean: (distance 0..N/2, correlation, lags in each ring)."""
    a = np.asarray(image, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ParameterError("image", f"must be a square 2-D map, got shape {a.shape}")
    n = a.shape[0]
    d = a - a.mean()
    power = np.abs(np.fft.fft2(d)) ** 2
    acf = np.real(np.fft.ifft2(power)) / max(float(power.sum()) / (n * n), 1e-300)
    _, ring = ring_mean(acf)
    lags = np.bincount(ring_bins(n).ravel())
    return np.arange(n // 2 + 1), np.concatenate([[1.0], ring]), lags[:n // 2 + 1]


def spatial_structure(image) -> dict:
    """How much the map's neighbours share their eye, read from its autocorrelation on the torus
    (each ring of distances weighs in by its number of neuron pairs, unlike the radial spectrum,
    whose largest-scale rings hold a few modes each):

    * neighbour_correlation: the correlation of a neuron's OD index with its 4 nearest neighbours'.
      Its z is against a map of the same values shuffled in space (no structure), whose
      neighbour correlation has a standard deviation of 1 / (N sqrt 2) for an N x N map; a map of
      columns L neurons across has about J0(2 pi / L) (0.64 at L = 5, 0.91 at 10).
    * autocorrelation: the radial autocorrelation at distances 0..8 (rings as in ring_mean).
    * trough_distance, trough, trough_z: the first local minimum of the radial autocorrelation, if
      it is below zero by more than 3 standard deviations of a shuffled map's (1 / (N sqrt(m / 2))
      for a ring of m lags): neighbours at that distance prefer the other eye. None otherwise (no
      periodic structure that a map without any would not show by chance).
    * autocorrelation_wavelength_neurons: trough_distance / 0.61 (an isotropic map; see
      J0_TROUGH_FRACTION), the trough refined by a parabola through its neighbours."""
    _, radial, lags = radial_autocorrelation(image)
    a = np.asarray(image, dtype=float)
    n = a.shape[0]
    d = a - a.mean()
    none: dict = {"neighbour_correlation": None, "neighbour_correlation_z": None, "autocorrelation": [],
            "trough_distance": None, "trough": None, "trough_z": None, "autocorrelation_wavelength_neurons": None}
    if not np.any(d) or n < 4:
        return none
    # the 4 nearest neighbours exactly (ring 1 also holds the 4 diagonal ones)
    nearest = float(np.mean([(d * np.roll(d, 1, axis)).mean() for axis in (0, 1)]) / (d * d).mean())
    out = {**none, "neighbour_correlation": nearest, "neighbour_correlation_z": nearest / shuffle_sd(n, 4),
           "autocorrelation": [float(v) for v in radial[:9]]}
    for r in range(1, len(radial) - 1):
        if radial[r] <= radial[r - 1] and radial[r] < radial[r + 1]:
            z = radial[r] / shuffle_sd(n, int(lags[r]))
            if z < -3:
                lo, mid, hi = radial[r - 1], radial[r], radial[r + 1]
                r_min = r + 0.5 * (lo - hi) / (lo - 2 * mid + hi)
                out.update(trough_distance=float(r_min), trough=float(mid), trough_z=float(z),
                           autocorrelation_wavelength_neurons=float(r_min / J0_TROUGH_FRACTION))
            break
    return out


def bessel_j0(x):
    """J0 by its integral (1/pi) int_0^pi cos(x sin t) dt (numpy has no J0), elementwise."""
    t = np.linspace(0.0, np.pi, 2001)
    return np.trapezoid(np.cos(np.multiply.outer(np.asarray(x, dtype=float), np.sin(t))), t, axis=-1) / np.pi


def column_neighbour_correlation(wavelength_neurons: float) -> float:
    """The nearest-neighbour correlation of an isotropic map whose power sits on one ring of this
    wavelength: J0(2 pi / L), the radial autocorrelation J0(2 pi r / L) at r = 1."""
    return float(bessel_j0(2 * np.pi / wavelength_neurons))


def shuffle_sd(size: int, lags: int) -> float:
    """Standard deviation of a ring mean of the autocorrelation over ``lags`` lags (half of them
    independent: c(d) = c(-d)) for a size x size map shuffled in space."""
    return 1.0 / (size * math.sqrt(lags / 2))


def sarle_bimodality(values) -> float:
    """Sarle's bimodality coefficient (g^2 + 1) / (kappa + 3 (n-1)^2 / ((n-2)(n-3))) with g the
    sample skewness and kappa the sample excess kurtosis (both bias-corrected, as in SAS);
    above 5/9 (the uniform distribution's value) suggests two modes. Needs n >= 4."""
    x = np.asarray(values, dtype=float).ravel()
    n = x.size
    if n < 4:
        raise ParameterError("values", f"need at least 4 values for the bimodality coefficient, got {n}")
    d = x - x.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    if m2 == 0:
        return float("nan")
    g1 = m3 / m2 ** 1.5
    g = g1 * math.sqrt(n * (n - 1)) / (n - 2)
    kappa = ((n + 1) * (m4 / m2 ** 2 - 3) + 6) * (n - 1) / ((n - 2) * (n - 3))
    return float((g * g + 1) / (kappa + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


BIMODAL_THRESHOLD = 5 / 9


def map_summary(w_left, w_right, size: int) -> dict:
    """OD statistics of a sheet's final mean weights (per neuron, row-major)."""
    index = od_index(w_left, w_right).reshape(size, size)
    wl = wavelength(index)
    b = sarle_bimodality(index) if index.size >= 4 else None
    st = spatial_structure(index)
    return {"od_wavelength_neurons": wl["wavelength_neurons"], "od_spectrum_peak_k": wl["peak_k"],
            "od_spectrum_prominence": wl["prominence"], "od_bimodality": b,
            "od_neighbour_correlation": st["neighbour_correlation"],
            "od_neighbour_correlation_z": st["neighbour_correlation_z"],
            "od_autocorrelation_trough": st["trough"],
            "od_autocorrelation_wavelength_neurons": st["autocorrelation_wavelength_neurons"],
            "od_bimodal": bool(b is not None and b > BIMODAL_THRESHOLD),
            "od_index_mean": float(index.mean()), "od_index_sd": float(index.std()),
            "monocular_fraction": float(np.mean(np.abs(index) > 0.5)),
            "right_dominated_fraction": float(np.mean(index > 0))}
