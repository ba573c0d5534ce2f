"""The ternary Hebbian memory inside the actor system: synapse populations learn online
from messages sent by a teacher.

    TernarySynapsePopulation  one layer of ternary synapses (n_out x n_in, int8) and its
                              own random stream. "sample" carries a batch of (pre, target)
                              pairs: each takes one Markov step, in the order given
                              (``TernaryLayer.learn``: ``online_update`` done in place).
                              "query" carries input patterns: the reply "recall" holds the
                              layer's answer (fire, winner or raw drive) plus its running
                              transition counts.
    SampleSource              the teacher. Streams each stage's training set in batches at a
                              fixed simulated rate (one batch every ``batch_interval_ps``),
                              asks for a recall of the whole set after every epoch, keeps a
                              learning curve, stops a stage at exact recall (or max epochs)
                              and goes on to the next. A stage may take its inputs from an
                              earlier stage's final recall: greedy layer-by-layer training
                              with the layers in different actors.

Nothing but messages links the actors, so a layer can sit in its own Ray process. Because
the population draws its uniforms from its own stream and takes samples in the order they
arrive, it ends with exactly the weights of ``TernaryLayer.learn`` (or ``fit`` with
``shuffle=False``) fed the same order with a generator seeded like the actor (see
``actor_rng``); tests/hebbian/test_hebbian_actor.py checks that.

Binary patterns travel as lists of active indices ([3, 17] = inputs 3 and 17 fire): plain
msgpack lists, and for one-hot symbols hundreds of times smaller than dense 0/1 rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from typing import Any

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.arithmetic import MultiplicationMemory, TableConfig, table_data
from lolpim.models.hebbian.digits import N_CLASSES, DigitsConfig, thermometer
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer
from lolpim.models.hebbian.rule import TransitionRule

from lolpim.actors.kernel.actor import Actor, actor_seed
from lolpim.actors.kernel.messages import Empty, message
from lolpim.actors.kernel.system import ActorSpec, SystemSpec, frozen_params
from lolpim.core import schema

READOUTS = ("fire", "winner", "scores")
MAX_TAG = 64
# rows one sample or query message may carry: the teacher sends batch_size / query_rows at a
# time (16 .. 512 here); a message of a million empty rows (2 MB of msgpack) used to cost
# seconds of learning steps (issue 26: the work one message can cause is bounded)
MAX_ROWS_PER_MESSAGE = 65_536


def actor_rng(seed: int, name: str) -> np.random.Generator:
    """The generator an actor called ``name`` gets in a run with ``seed`` (for reference runs)."""
    return np.random.Generator(np.random.PCG64(actor_seed(seed, name)))


def active(rows) -> list[list[int]]:
    """Dense 0/1 rows -> per row, the ascending indices of its nonzero entries."""
    rows = np.atleast_2d(np.asarray(rows)) != 0
    r, c = np.nonzero(rows)
    cuts = np.searchsorted(r, np.arange(1, len(rows)))
    return [part.tolist() for part in np.split(c, cuts)]


def dense(rows: list, width: int, field: str = "pre") -> np.ndarray:
    """Lists of active indices -> int8 0/1 matrix of ``width`` columns."""
    out = np.zeros((len(rows), width), dtype=np.int8)
    lengths = [len(r) for r in rows]
    cols = np.fromiter((c for r in rows for c in r), dtype=np.int64, count=sum(lengths))
    if cols.size and (cols.min() < 0 or cols.max() >= width):
        raise ParameterError(field, f"active indices must lie in 0..{width - 1}")
    out[np.repeat(np.arange(len(rows)), lengths), cols] = 1
    return out


def _counts_dict(counts: np.ndarray) -> dict:
    states = (-1, 0, 1)
    return {f"{states[i]:+d}->{states[j]:+d}": int(counts[i, j])
            for i in range(3) for j in range(3) if abs(i - j) == 1}  # one level per step


def _positive_ints(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(name, f"must be a positive integer, got {value!r}")


# --- messages (patterns as lists of active indices) ---------------------------------------

@message
class Sample:
    """A batch of training pairs, learned in the order given."""
    batch: int = field(metadata={"min": 0})
    pre: list[list[int]]
    target: list[list[int]]


@message
class Query:
    """Input patterns to recall; ``part`` numbers the chunks of one query ``tag``."""
    tag: str = field(metadata={"max_len": MAX_TAG})
    part: int = field(metadata={"min": 0})
    pre: list[list[int]]
    readout: str = field(metadata={"choices": READOUTS})


@message
class Recall:
    """The answer to one query chunk: active indices per row (fire, winner) or drives (scores)."""
    tag: str = field(metadata={"max_len": MAX_TAG})
    part: int = field(metadata={"min": 0})
    outputs: list[list[float]]
    samples: int = field(metadata={"min": 0})
    transitions: int = field(metadata={"min": 0})


class TernarySynapsePopulation(Actor):
    accepts = {"sample": Sample, "query": Query}
    state_fields = ("weights", "counts", "samples", "batches", "queries", "per_sample")

    @frozen_params
    class Params:
        layer: LayerConfig
        link_ps: int = schema.field(default=100_000, min=1, unit="ps")
        record_per_sample: bool = True     # keep the synapse changes of every presentation

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.link_ps

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.config = params.layer
        self.lookahead_ps = params.link_ps
        self.record_per_sample = params.record_per_sample
        self.weights = TernaryLayer(self.config).weights     # n_out x n_in int8, all 0
        self.counts = np.zeros((3, 3), dtype=np.int64)      # (from, to) over the whole run
        self.samples = 0
        self.batches = 0
        self.queries = 0
        self.per_sample: list[int] = []                     # synapse changes per presentation

    @property
    def layer(self) -> TernaryLayer:
        """The model layer over this actor's weights (shared, not copied)."""
        return TernaryLayer.over(self.config, self.weights)

    def handle(self, event, payload):
        if event.kind == "sample":
            return self._learn(event, payload)
        return self._recall(event, payload)

    def _patterns(self, event, rows: list, width: int, field: str) -> np.ndarray:
        try:
            return dense(rows, width, field)
        except ParameterError:
            self.reject(event, field, f"active indices must lie in 0..{width - 1}")

    def _learn(self, event, payload: Sample) -> list:
        if len(payload.pre) > MAX_ROWS_PER_MESSAGE:
            self.reject(event, "pre", f"{len(payload.pre)} rows: at most {MAX_ROWS_PER_MESSAGE} a message")
        if len(payload.pre) != len(payload.target):
            self.reject(event, "target", f"batch {payload.batch}: {len(payload.pre)} inputs "
                                         f"but {len(payload.target)} targets")
        pre = self._patterns(event, payload.pre, self.config.n_in, "pre")
        target = self._patterns(event, payload.target, self.config.n_out, "target")
        layer = self.layer
        for x, t in zip(pre, target):
            # TernaryLayer.learn is online_update done in place: the same Markov step and the
            # same draws (tests/hebbian/test_hebbian_streaming_state.py), without copying the
            # whole matrix per sample, which dominates for large layers (2401 x 778 synapses)
            counts = layer.learn(x, t, self.rng)
            self.counts += counts
            self.samples += 1
            if self.record_per_sample:
                self.per_sample.append(int(counts.sum()))
        self.batches += 1
        return []   # the teacher streams at a fixed rate: no acknowledgement needed

    def _recall(self, event, payload: Query) -> list:
        if not payload.pre:     # the readouts stack rows: an empty query has nothing to answer
            self.reject(event, "pre", "a query needs at least one input pattern")
        if len(payload.pre) > MAX_ROWS_PER_MESSAGE:
            self.reject(event, "pre", f"{len(payload.pre)} rows: at most {MAX_ROWS_PER_MESSAGE} a message")
        pre = self._patterns(event, payload.pre, self.config.n_in, "pre")
        layer = self.layer
        if payload.readout == "fire":
            out = active(layer.fire(pre))
        elif payload.readout == "winner":
            out = active(layer.winner(pre))
        else:                       # raw drive of every output neuron, dense
            out = layer.scores(pre).tolist()
        self.queries += 1
        # active indices are ints: a list[list[float]] field takes them (an int is a float on the wire)
        reply = Recall(tag=payload.tag, part=payload.part, outputs=out, samples=self.samples,  # type: ignore[arg-type]
                       transitions=int(self.counts.sum()))
        return [self.send(event.src, "recall", reply, self.lookahead_ps)]

    def result(self):
        return {"layer": self.layer.state(), "samples": self.samples, "batches": self.batches,
                "queries": self.queries, "transitions": int(self.counts.sum()),
                "counts": self.counts.ravel().tolist(), "by_kind": _counts_dict(self.counts),
                "transitions_per_sample": self.per_sample,
                "weights_fraction": {str(s): float((self.weights == s).mean()) for s in (-1, 0, 1)}}

    def metrics(self):
        return {"samples_learned": self.samples, "transitions": int(self.counts.sum())}


@dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of the teacher (SampleSource.Params checks it and keeps patterns as
    active-index lists, as they travel).

    population  name of the TernarySynapsePopulation actor this stage trains;
    x           training inputs (dense rows of 0/1), or None with ``input_from`` = index of an
                earlier stage whose final recall (over that stage's inputs) becomes x;
    targets     teacher rows (0/1), one per input row;
    max_epochs  epochs at most; ``stop_when_exact`` ends the stage at exact recall;
    readout     "fire" or "winner": how recall is read out and compared with the targets;
    labels, contacts   (optional) classification: accuracy = class with the largest summed
                drive of its ``contacts`` neurons; ``test_x``/``test_labels`` are then
                evaluated too after each epoch.
    """
    population: str
    targets: object
    max_epochs: int
    x: object = None
    input_from: int | None = None
    readout: str = "fire"
    stop_when_exact: bool = True
    labels: object = None
    contacts: int = 1
    test_x: object = None
    test_labels: object = None


def _checked_stage(i: int, s: Stage) -> Stage:
    if s.x is None and not (isinstance(s.input_from, int) and 0 <= s.input_from < i):
        raise ParameterError(f"stages[{i}].x", "give inputs x or input_from = an earlier stage index")
    _positive_ints(**{f"stages[{i}].max_epochs": s.max_epochs, f"stages[{i}].contacts": s.contacts})
    if s.readout not in ("fire", "winner"):
        raise ParameterError(f"stages[{i}].readout", f"must be 'fire' or 'winner', got {s.readout!r}")
    patterns: dict[str, Any] = {k: None if getattr(s, k) is None else active(getattr(s, k))
                                for k in ("x", "targets", "test_x")}
    labels: dict[str, Any] = {k: None if getattr(s, k) is None
                              else np.asarray(getattr(s, k)).astype(np.int64).tolist()
                              for k in ("labels", "test_labels")}
    s = replace(s, **patterns, **labels)
    x, targets = patterns["x"], patterns["targets"]     # s.x, s.targets as active-index lists
    if not targets:
        raise ParameterError(f"stages[{i}].targets", "need at least one training sample")
    if x is not None and len(x) != len(targets):
        raise ParameterError(f"stages[{i}].x", f"{len(x)} input rows for {len(targets)} targets")
    return s


class SampleSource(Actor):
    """The teacher: streams each stage (``Stage``) to its population, recalls after every epoch.

    With ``chain`` the teacher finally recalls the whole chain of stages (winner-take-all in
    each) and reports the fraction of rows whose last output equals the last targets.
    """

    accepts = {"tick": Empty, "recall": Recall}
    timers = frozenset({"tick"})
    state_fields = ("stage", "epoch", "order", "cursor", "inflight", "answers", "last_transitions",
                    "transitions_now", "curves", "outputs", "chain_step", "chain_accuracy", "finished_ps")

    @frozen_params
    class Params:
        stages: tuple
        batch_size: int = schema.field(default=16, min=1, max=MAX_ROWS_PER_MESSAGE, doc="rows a message")
        batch_interval_ps: int = schema.field(default=1_000_000, min=1, unit="ps")
        link_ps: int = schema.field(default=100_000, min=1, unit="ps")
        query_rows: int = schema.field(default=512, min=1, max=MAX_ROWS_PER_MESSAGE, doc="rows a message")
        shuffle: bool = True
        chain: bool = False

        def __post_init__(self):   # after the declared ranges (frozen_params checks them first)
            if not self.stages:
                raise ParameterError("stages", "need at least one stage")
            stages = tuple(_checked_stage(i, s) for i, s in enumerate(self.stages))
            if self.chain and any(s.input_from != i - 1 for i, s in enumerate(stages) if i > 0):
                raise ParameterError("chain", "a chain needs every stage k > 0 to take input_from = k - 1")
            object.__setattr__(self, "stages", stages)

    @classmethod
    def lookahead_for(cls, params: Params) -> int:
        return params.link_ps

    def __init__(self, name: str, seed: int, params: Params):
        super().__init__(name, seed)
        self.p = params
        self.stages = params.stages
        self.lookahead_ps = params.link_ps
        self.stage = 0
        self.epoch = 0
        self.order: list[int] = []
        self.cursor = 0
        self.inflight: dict[str, dict] = {}        # tag -> {"rows": per part, "outputs": per part (None until then)}
        self.answers: dict[str, list] = {}         # tag -> concatenated outputs
        self.last_transitions = 0
        self.transitions_now = 0                   # population's running total at the last recall
        self.curves: list[list[dict]] = [[] for _ in self.stages]
        self.outputs: list = [None] * len(self.stages)   # final recall of each stage
        self.chain_step = 0
        self.chain_accuracy: float | None = None
        self.finished_ps: int | None = None

    # --- data of the current stage ------------------------------------------------------
    def _inputs(self, i: int) -> list:
        s = self.stages[i]
        return s.x if s.x is not None else self.outputs[s.input_from]

    # --- protocol -----------------------------------------------------------------------
    def start(self):
        self._new_epoch()
        return [self.send(self.name, "tick", Empty(), 0)]

    def _new_epoch(self) -> None:
        n = len(self.stages[self.stage].targets)
        self.order = self.rng.permutation(n).tolist() if self.p.shuffle else list(range(n))
        self.cursor = 0

    def handle(self, event, payload):
        if event.kind == "tick":
            return self._stream_batch()
        return self._collect(event, payload)

    def _stream_batch(self) -> list:
        s = self.stages[self.stage]
        x, t, size = self._inputs(self.stage), s.targets, self.p.batch_size
        rows = self.order[self.cursor:self.cursor + size]
        self.cursor += len(rows)
        out = [self.send(s.population, "sample", Sample(batch=self.cursor // size, pre=[x[i] for i in rows],
                                                        target=[t[i] for i in rows]), self.lookahead_ps)]
        if self.cursor < len(self.order):
            out.append(self.send(self.name, "tick", Empty(), self.p.batch_interval_ps))
            return out
        # epoch streamed: ask for a recall of the training set (and of the test set), sent
        # after the last batch so the population has learned it when the query arrives
        readout = "scores" if s.labels is not None else s.readout
        out += self._ask("train", s.population, x, readout)
        if s.test_x is not None:
            out += self._ask("test", s.population, s.test_x, "scores")
        return out

    def _ask(self, tag: str, population: str, rows: list, readout: str) -> list:
        n = self.p.query_rows
        chunks = [rows[i:i + n] for i in range(0, len(rows), n)]
        self.inflight[tag] = {"rows": [len(c) for c in chunks], "outputs": [None] * len(chunks)}
        return [self.send(population, "query", Query(tag=tag, part=k, pre=chunk, readout=readout),
                          self.lookahead_ps) for k, chunk in enumerate(chunks)]

    def _check_recall(self, event, payload: Recall) -> None:
        """A recall must answer a part still in flight, one output row per row asked,
        drives (scores) as equal rows of whole class groups."""
        asked = self.inflight.get(payload.tag)
        if asked is None:
            self.reject(event, "tag", f"{payload.tag!r} answers no query in flight")
        if payload.part >= len(asked["rows"]) or asked["outputs"][payload.part] is not None:
            self.reject(event, "part", f"{payload.part} is no part of query {payload.tag!r} still awaited")
        if len(payload.outputs) != asked["rows"][payload.part]:
            self.reject(event, "outputs", f"has {len(payload.outputs)} rows for {asked['rows'][payload.part]} asked")
        s = self.stages[self.stage] if payload.tag in ("train", "test") else None
        if s is not None and s.labels is not None:
            widths = {len(row) for row in payload.outputs}
            if len(widths) > 1 or any(w == 0 or w % s.contacts for w in widths):
                self.reject(event, "outputs", f"drives must be equal rows of whole groups of {s.contacts}")

    def _collect(self, event, payload: Recall) -> list:
        self._check_recall(event, payload)
        tag = payload.tag
        parts = self.inflight[tag]["outputs"]
        parts[payload.part] = payload.outputs
        if any(p is None for p in parts):
            return []
        del self.inflight[tag]
        self.answers[tag] = [row for p in parts for row in p]
        if tag.startswith("chain"):
            return self._chain_next()
        if tag == "train":
            self.transitions_now = payload.transitions
        if self.inflight:          # wait for the test-set answer too
            return []
        return self._end_epoch()

    def _accuracy(self, s: Stage, answer: list, labels, targets) -> float:
        if labels is not None:       # answer: dense drives, summed over each class's contacts
            out = np.asarray(answer)
            classes = out.reshape(len(out), -1, s.contacts).sum(axis=2).argmax(axis=1)
            return float((classes == np.asarray(labels)).mean())
        return sum(a == t for a, t in zip(answer, targets)) / len(targets)   # exact active sets

    def _end_epoch(self) -> list:
        s = self.stages[self.stage]
        train_acc = self._accuracy(s, self.answers["train"], s.labels, s.targets)
        transitions = self.transitions_now - self.last_transitions
        self.last_transitions = self.transitions_now
        point = {"epoch": self.epoch + 1, "recall_accuracy": train_acc, "transitions": transitions,
                 "transitions_per_sample": transitions / len(s.targets), "time_ps": self.now_ps}
        if "test" in self.answers:
            point["test_accuracy"] = self._accuracy(s, self.answers.pop("test"), s.test_labels, None)
        self.curves[self.stage].append(point)
        self.epoch += 1
        exact = train_acc == 1.0 and s.stop_when_exact
        if not exact and self.epoch < s.max_epochs:
            self._new_epoch()
            return [self.send(self.name, "tick", Empty(), 0)]
        # stage done: its last recall (fire/winner) is the input of any stage built on it
        self.outputs[self.stage] = self.answers.pop("train") if s.labels is None else None
        self.stage += 1
        self.epoch, self.last_transitions = 0, 0
        if self.stage < len(self.stages):
            self._new_epoch()
            return [self.send(self.name, "tick", Empty(), 0)]
        if self.p.chain:
            self.chain_step = 0
            return self._ask("chain0", self.stages[0].population, self._inputs(0), "winner")
        self.finished_ps = self.now_ps
        return []

    def _chain_next(self) -> list:
        answer = self.answers.pop(f"chain{self.chain_step}")
        self.chain_step += 1
        if self.chain_step < len(self.stages):
            return self._ask(f"chain{self.chain_step}", self.stages[self.chain_step].population,
                             answer, "winner")
        last = self.stages[-1].targets
        self.chain_accuracy = sum(a == t for a, t in zip(answer, last)) / len(last)
        self.finished_ps = self.now_ps
        return []

    # --- reporting ----------------------------------------------------------------------
    def result(self):
        return {"stages": [{"population": s.population, "epochs": len(c), "curve": c}
                           for s, c in zip(self.stages, self.curves)],
                "chain_accuracy": self.chain_accuracy, "finished_ps": self.finished_ps}

    def metrics(self):
        return {"stage": self.stage, "epoch": self.epoch}


# --- ready-made systems -------------------------------------------------------------------

def population(name: str, n_in: int, n_out: int, rule: TransitionRule, threshold: float, margin: float | None,
               link_ps: int) -> ActorSpec:
    layer = LayerConfig(n_in, n_out, rule, threshold, margin)
    return ActorSpec(name, TernarySynapsePopulation, TernarySynapsePopulation.Params(layer=layer, link_ps=link_ps))


def multiplication_system(max_operand: int = 9, seed: int = 0, batch_size: int = 9,
                          batch_interval_ps: int = 1_000_000, link_ps: int = 100_000, config=None) -> SystemSpec:
    """The multiplication table as three actors: teacher, operands->pairs population and
    pairs->products population (rules and thresholds as in models.hebbian.arithmetic),
    trained greedily through messages, then recalled end to end through both populations."""
    config = config or TableConfig(max_operand=max_operand)
    n = config.max_operand
    x, pair_t, product_t, products = table_data(n)
    pair_rule = TransitionRule(p_potentiate=config.p_potentiate, p_depress=config.p_depress,
                               p_hetero_depress=config.p_hetero_depress)
    product_rule = TransitionRule(p_potentiate=config.p_potentiate, p_depress=config.p_depress)
    stages = (Stage(population="pairs", x=x, targets=pair_t, max_epochs=config.max_epochs),
              Stage(population="products", input_from=0, targets=product_t, max_epochs=config.max_epochs))
    teacher = SampleSource.Params(stages=stages, batch_size=batch_size, batch_interval_ps=batch_interval_ps,
                                  link_ps=link_ps, chain=True)
    return SystemSpec((ActorSpec("teacher", SampleSource, teacher),
                       population("pairs", 2 * n, n * n, pair_rule, 1.0, 0.5, link_ps),
                       population("products", n * n, len(products), product_rule, 0.5, 0.5, link_ps)), seed=seed)


def multiplication_memory(results: dict, max_operand: int, config=None):
    """Rebuild a MultiplicationMemory from the weights the two populations ended with, so the
    recall and factorisation code of models.hebbian.arithmetic runs on them unchanged."""
    config = config or TableConfig(max_operand=max_operand)
    products = table_data(config.max_operand)[3]
    return MultiplicationMemory(config, TernaryLayer.from_state(results["pairs"]["layer"]),
                                TernaryLayer.from_state(results["products"]["layer"]), products)


def digits_system(data, config=None, seed: int = 0, batch_size: int = 64,
                  batch_interval_ps: int = 1_000_000, link_ps: int = 100_000) -> SystemSpec:
    """The digits task as two actors: the teacher streams the thermometer-coded training
    images (one-vs-rest targets, ``contacts`` neurons per class, as models.hebbian.digits)
    for ``config.epochs`` epochs and scores the test set after each epoch."""
    config = config or DigitsConfig()
    x_train = thermometer(data.x_train, config.levels, data.full_scale)
    x_test = thermometer(data.x_test, config.levels, data.full_scale)
    unit_class = np.repeat(np.arange(N_CLASSES), config.contacts)
    targets = (unit_class[None, :] == data.y_train[:, None]).astype(np.int8)
    stage = Stage(population="digits", x=x_train, targets=targets, labels=data.y_train, contacts=config.contacts,
                  test_x=x_test, test_labels=data.y_test, max_epochs=config.epochs, stop_when_exact=False)
    teacher = SampleSource.Params(stages=(stage,), batch_size=batch_size, batch_interval_ps=batch_interval_ps,
                                  link_ps=link_ps)
    rule = TransitionRule(p_potentiate=config.p_potentiate, p_depress=config.p_depress)
    return SystemSpec((ActorSpec("teacher", SampleSource, teacher),
                       population("digits", x_train.shape[1], N_CLASSES * config.contacts, rule, 0.0, config.margin,
                                  link_ps)), seed=seed)
