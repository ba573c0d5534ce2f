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

import numpy as np

from lolpim.core.errors import ParameterError
from lolpim.models.hebbian.network import LayerConfig, TernaryLayer, restore, snapshot
from lolpim.models.hebbian.rule import TransitionRule

from lolpim.actors.kernel.actor import Actor, actor_seed
from lolpim.actors.kernel.system import ActorSpec, SystemSpec

POPULATION_CLS = "lolpim.actors.hebbian.population:TernarySynapsePopulation"
SOURCE_CLS = "lolpim.actors.hebbian.population:SampleSource"
READOUTS = ("fire", "winner", "scores")


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


class TernarySynapsePopulation(Actor):
    accepts = {"sample": {"batch": int, "pre": list, "target": list},
               "query": {"tag": str, "part": int, "pre": list, "readout": str}}

    def __init__(self, name, seed, n_in: int, n_out: int, rule: dict | None = None, threshold: float = 0.0,
                 margin: float | None = 2.0, link_ps: int = 100_000, record_per_sample: bool = True):
        super().__init__(name, seed)
        config = LayerConfig(int(n_in), int(n_out), TransitionRule(**(rule or {})), float(threshold),
                             None if margin is None else float(margin))
        self.layer = TernaryLayer(config)
        if not isinstance(link_ps, int) or link_ps < 1:
            raise ParameterError("link_ps", f"must be a positive integer (ps), got {link_ps!r}")
        self.lookahead_ps = link_ps
        self.record_per_sample = record_per_sample
        self.counts = np.zeros((3, 3), dtype=np.int64)      # (from, to) over the whole run
        self.samples = 0
        self.batches = 0
        self.queries = 0
        self.per_sample: list[int] = []                     # synapse changes per presentation

    def handle(self, event, payload):
        if event.kind == "sample":
            return self._learn(payload)
        return self._recall(event.src, payload)

    def _learn(self, payload) -> list:
        if len(payload["pre"]) != len(payload["target"]):
            raise ParameterError("target", f"batch {payload['batch']}: {len(payload['pre'])} inputs "
                                           f"but {len(payload['target'])} targets")
        config = self.layer.config
        pre, target = dense(payload["pre"], config.n_in), dense(payload["target"], config.n_out, "target")
        for x, t in zip(pre, target):
            # TernaryLayer.learn is online_update done in place: the same Markov step and the
            # same draws (tests/hebbian/test_hebbian_streaming_state.py), without copying the
            # whole matrix per sample, which dominates for large layers (2401 x 778 synapses)
            counts = self.layer.learn(x, t, self.rng)
            self.counts += counts
            self.samples += 1
            if self.record_per_sample:
                self.per_sample.append(int(counts.sum()))
        self.batches += 1
        return []   # the teacher streams at a fixed rate: no acknowledgement needed

    def _recall(self, src: str, payload) -> list:
        readout = payload["readout"]
        if readout not in READOUTS:
            raise ParameterError("readout", f"must be one of {', '.join(READOUTS)}, got {readout!r}")
        pre = dense(payload["pre"], self.layer.config.n_in)
        if readout == "fire":
            out = active(self.layer.fire(pre))
        elif readout == "winner":
            out = active(self.layer.winner(pre))
        else:                       # raw drive of every output neuron, dense
            out = self.layer.scores(pre).tolist()
        self.queries += 1
        reply = {"tag": payload["tag"], "part": payload["part"], "outputs": out,
                 "samples": self.samples, "transitions": int(self.counts.sum())}
        return [self.send(src, "recall", reply, self.lookahead_ps)]

    def result(self):
        return {"layer": self.layer.state(), "samples": self.samples, "batches": self.batches,
                "queries": self.queries, "transitions": int(self.counts.sum()),
                "counts": self.counts.ravel().tolist(), "by_kind": _counts_dict(self.counts),
                "transitions_per_sample": self.per_sample,
                "weights_fraction": {str(s): float((self.layer.weights == s).mean()) for s in (-1, 0, 1)}}

    def metrics(self):
        return {"samples_learned": self.samples, "transitions": int(self.counts.sum())}

    def state(self):
        return {"memory": snapshot(self.layer, self.rng), "counts": self.counts.ravel().tolist(),
                "samples": self.samples, "batches": self.batches, "queries": self.queries,
                "per_sample": self.per_sample}

    def load_state(self, state):
        # the memory snapshot carries weights, rule and the exact generator state
        self.layer, self.rng = restore(state["memory"])
        self.counts = np.asarray(state["counts"], dtype=np.int64).reshape(3, 3)
        self.samples, self.batches, self.queries = state["samples"], state["batches"], state["queries"]
        self.per_sample = list(state["per_sample"])


class SampleSource(Actor):
    """The teacher. ``stages`` is a list of dicts:

    population  name of the TernarySynapsePopulation actor this stage trains;
    x           training inputs (dense rows of 0/1), or None with ``input_from`` = index of an
                earlier stage whose final recall (over that stage's inputs) becomes x;
    targets     teacher rows (0/1), one per input row;
    max_epochs  epochs at most; ``stop_when_exact`` ends the stage at exact recall;
    readout     "fire" or "winner": how recall is read out and compared with the targets;
    labels, contacts   (optional) classification: accuracy = class with the largest summed
                drive of its ``contacts`` neurons; ``test_x``/``test_labels`` are then
                evaluated too after each epoch.

    With ``chain`` the teacher finally recalls the whole chain of stages (winner-take-all in
    each) and reports the fraction of rows whose last output equals the last targets.
    """

    accepts = {"tick": {}, "recall": {"tag": str, "part": int, "outputs": list, "samples": int,
                                      "transitions": int}}

    def __init__(self, name, seed, stages: list, batch_size: int = 16, batch_interval_ps: int = 1_000_000,
                 link_ps: int = 100_000, query_rows: int = 512, shuffle: bool = True, chain: bool = False):
        super().__init__(name, seed)
        for field, value in (("batch_size", batch_size), ("batch_interval_ps", batch_interval_ps),
                             ("link_ps", link_ps), ("query_rows", query_rows)):
            if not isinstance(value, int) or value < 1:
                raise ParameterError(field, f"must be a positive integer, got {value!r}")
        if not stages:
            raise ParameterError("stages", "need at least one stage")
        self.stages = [self._check_stage(i, dict(s)) for i, s in enumerate(stages)]
        if chain and any(s.get("input_from") != i - 1 for i, s in enumerate(self.stages) if i > 0):
            raise ParameterError("chain", "a chain needs every stage k > 0 to take input_from = k - 1")
        self.batch_size, self.batch_interval_ps = batch_size, batch_interval_ps
        self.lookahead_ps = link_ps
        self.query_rows, self.shuffle, self.chain = query_rows, shuffle, chain
        # run state (all of it in state()/load_state())
        self.stage = 0
        self.epoch = 0
        self.order: list[int] = []
        self.cursor = 0
        self.inflight: dict[str, list] = {}        # tag -> parts received (None until then)
        self.answers: dict[str, list] = {}         # tag -> concatenated outputs
        self.last_transitions = 0
        self._transitions_now = 0                  # population's running total at the last recall
        self.curves: list[list[dict]] = [[] for _ in self.stages]
        self.outputs: list = [None] * len(self.stages)   # final recall of each stage
        self.chain_step = 0
        self.chain_accuracy: float | None = None
        self.finished_ps: int | None = None

    @staticmethod
    def _check_stage(i: int, s: dict) -> dict:
        for key in ("population", "targets", "max_epochs"):
            if key not in s:
                raise ParameterError(f"stages[{i}].{key}", "is missing")
        if s.get("x") is None and not (isinstance(s.get("input_from"), int) and 0 <= s["input_from"] < i):
            raise ParameterError(f"stages[{i}].x", "give inputs x or input_from = an earlier stage index")
        for key in ("x", "targets", "test_x"):   # kept as active-index lists, as they travel
            if s.get(key) is not None:
                s[key] = active(s[key])
        for key in ("labels", "test_labels"):
            if s.get(key) is not None:
                s[key] = np.asarray(s[key]).astype(np.int64).tolist()
        if not s["targets"]:
            raise ParameterError(f"stages[{i}].targets", "need at least one training sample")
        if s.get("x") is not None and len(s["x"]) != len(s["targets"]):
            raise ParameterError(f"stages[{i}].x", f"{len(s['x'])} input rows for {len(s['targets'])} targets")
        s.setdefault("readout", "fire")
        if s["readout"] not in ("fire", "winner"):
            raise ParameterError(f"stages[{i}].readout", f"must be 'fire' or 'winner', got {s['readout']!r}")
        s.setdefault("stop_when_exact", True)
        s.setdefault("contacts", 1)
        return s

    # --- data of the current stage ------------------------------------------------------
    def _inputs(self, i: int) -> list:
        s = self.stages[i]
        return s["x"] if s.get("x") is not None else self.outputs[s["input_from"]]

    # --- protocol -----------------------------------------------------------------------
    def start(self):
        self._new_epoch()
        return [self.send(self.name, "tick", {}, 0)]

    def _new_epoch(self) -> None:
        n = len(self.stages[self.stage]["targets"])
        self.order = self.rng.permutation(n).tolist() if self.shuffle else list(range(n))
        self.cursor = 0

    def handle(self, event, payload):
        if event.kind == "tick":
            return self._stream_batch()
        return self._collect(payload)

    def _stream_batch(self) -> list:
        s = self.stages[self.stage]
        x, t = self._inputs(self.stage), s["targets"]
        rows = self.order[self.cursor:self.cursor + self.batch_size]
        self.cursor += len(rows)
        out = [self.send(s["population"], "sample",
                         {"batch": self.cursor // self.batch_size, "pre": [x[i] for i in rows],
                          "target": [t[i] for i in rows]}, self.lookahead_ps)]
        if self.cursor < len(self.order):
            out.append(self.send(self.name, "tick", {}, self.batch_interval_ps))
            return out
        # epoch streamed: ask for a recall of the training set (and of the test set), sent
        # after the last batch so the population has learned it when the query arrives
        readout = "scores" if s.get("labels") is not None else s["readout"]
        out += self._ask("train", s["population"], x, readout)
        if s.get("test_x") is not None:
            out += self._ask("test", s["population"], s["test_x"], "scores")
        return out

    def _ask(self, tag: str, population: str, rows: list, readout: str) -> list:
        chunks = [rows[i:i + self.query_rows] for i in range(0, len(rows), self.query_rows)]
        self.inflight[tag] = [None] * len(chunks)
        return [self.send(population, "query", {"tag": tag, "part": k, "pre": chunk, "readout": readout},
                          self.lookahead_ps) for k, chunk in enumerate(chunks)]

    def _collect(self, payload) -> list:
        parts = self.inflight[payload["tag"]]
        parts[payload["part"]] = payload["outputs"]
        if any(p is None for p in parts):
            return []
        tag = payload["tag"]
        del self.inflight[tag]
        self.answers[tag] = [row for p in parts for row in p]
        if tag.startswith("chain"):
            return self._chain_next()
        if tag == "train":
            self._transitions_now = payload["transitions"]
        if self.inflight:          # wait for the test-set answer too
            return []
        return self._end_epoch()

    def _accuracy(self, s: dict, answer: list, labels, targets) -> float:
        if labels is not None:       # answer: dense drives, summed over each class's contacts
            out = np.asarray(answer)
            classes = out.reshape(len(out), -1, s["contacts"]).sum(axis=2).argmax(axis=1)
            return float((classes == np.asarray(labels)).mean())
        return sum(a == t for a, t in zip(answer, targets)) / len(targets)   # exact active sets

    def _end_epoch(self) -> list:
        s = self.stages[self.stage]
        labels = s.get("labels")
        train_acc = self._accuracy(s, self.answers["train"], labels, s["targets"])
        transitions = self._transitions_now - self.last_transitions
        self.last_transitions = self._transitions_now
        point = {"epoch": self.epoch + 1, "recall_accuracy": train_acc, "transitions": transitions,
                 "transitions_per_sample": transitions / len(s["targets"]), "time_ps": self.now_ps}
        if "test" in self.answers:
            point["test_accuracy"] = self._accuracy(s, self.answers.pop("test"), s["test_labels"], None)
        self.curves[self.stage].append(point)
        self.epoch += 1
        exact = train_acc == 1.0 and s["stop_when_exact"]
        if not exact and self.epoch < s["max_epochs"]:
            self._new_epoch()
            return [self.send(self.name, "tick", {}, 0)]
        # stage done: its last recall (fire/winner) is the input of any stage built on it
        self.outputs[self.stage] = self.answers.pop("train") if labels is None else None
        self.stage += 1
        self.epoch, self.last_transitions = 0, 0
        if self.stage < len(self.stages):
            self._new_epoch()
            return [self.send(self.name, "tick", {}, 0)]
        if self.chain:
            self.chain_step = 0
            return self._ask("chain0", self.stages[0]["population"], self._inputs(0), "winner")
        self.finished_ps = self.now_ps
        return []

    def _chain_next(self) -> list:
        answer = self.answers.pop(f"chain{self.chain_step}")
        self.chain_step += 1
        if self.chain_step < len(self.stages):
            return self._ask(f"chain{self.chain_step}", self.stages[self.chain_step]["population"],
                             answer, "winner")
        last = self.stages[-1]["targets"]
        self.chain_accuracy = sum(a == t for a, t in zip(answer, last)) / len(last)
        self.finished_ps = self.now_ps
        return []

    # --- reporting and snapshots --------------------------------------------------------
    def result(self):
        return {"stages": [{"population": s["population"], "epochs": len(c), "curve": c}
                           for s, c in zip(self.stages, self.curves)],
                "chain_accuracy": self.chain_accuracy, "finished_ps": self.finished_ps}

    def metrics(self):
        return {"stage": self.stage, "epoch": self.epoch}

    def state(self):
        return {"stage": self.stage, "epoch": self.epoch, "order": self.order, "cursor": self.cursor,
                "inflight": self.inflight, "answers": self.answers, "last": self.last_transitions,
                "now_transitions": self._transitions_now, "curves": self.curves,
                "outputs": self.outputs, "chain_step": self.chain_step, "chain_acc": self.chain_accuracy,
                "finished": self.finished_ps}

    def load_state(self, s):
        self.stage, self.epoch, self.order, self.cursor = s["stage"], s["epoch"], list(s["order"]), s["cursor"]
        self.inflight = {k: list(v) for k, v in s["inflight"].items()}
        self.answers = dict(s["answers"])
        self.last_transitions, self._transitions_now = s["last"], s["now_transitions"]
        self.curves = [list(c) for c in s["curves"]]
        self.outputs = list(s["outputs"])
        self.chain_step, self.chain_accuracy, self.finished_ps = s["chain_step"], s["chain_acc"], s["finished"]


# --- ready-made systems -------------------------------------------------------------------

def multiplication_system(max_operand: int = 9, seed: int = 0, batch_size: int = 9,
                          batch_interval_ps: int = 1_000_000, link_ps: int = 100_000, config=None) -> SystemSpec:
    """The multiplication table as three actors: teacher, operands->pairs population and
    pairs->products population (rules and thresholds as in models.hebbian_arithmetic),
    trained greedily through messages, then recalled end to end through both populations."""
    from lolpim.models.hebbian.arithmetic import TableConfig, table_data
    config = config or TableConfig(max_operand=max_operand)
    n = config.max_operand
    x, pair_t, product_t, products = table_data(n)
    pair_rule = {"p_potentiate": config.p_potentiate, "p_depress": config.p_depress,
                 "p_hetero_depress": config.p_hetero_depress}
    product_rule = {"p_potentiate": config.p_potentiate, "p_depress": config.p_depress}
    stages = [{"population": "pairs", "x": x, "targets": pair_t,
               "max_epochs": config.max_epochs, "readout": "fire"},
              {"population": "products", "x": None, "input_from": 0, "targets": product_t,
               "max_epochs": config.max_epochs, "readout": "fire"}]
    return SystemSpec((
        ActorSpec("teacher", SOURCE_CLS, {"stages": stages, "batch_size": batch_size,
                                          "batch_interval_ps": batch_interval_ps, "link_ps": link_ps,
                                          "chain": True}),
        ActorSpec("pairs", POPULATION_CLS, {"n_in": 2 * n, "n_out": n * n, "rule": pair_rule,
                                            "threshold": 1.0, "margin": 0.5, "link_ps": link_ps}),
        ActorSpec("products", POPULATION_CLS, {"n_in": n * n, "n_out": len(products), "rule": product_rule,
                                               "threshold": 0.5, "margin": 0.5, "link_ps": link_ps}),
    ), seed=seed)


def multiplication_memory(results: dict, max_operand: int, config=None):
    """Rebuild a MultiplicationMemory from the weights the two populations ended with, so the
    recall and factorisation code of models.hebbian_arithmetic runs on them unchanged."""
    from lolpim.models.hebbian.arithmetic import MultiplicationMemory, TableConfig, table_data
    config = config or TableConfig(max_operand=max_operand)
    products = table_data(config.max_operand)[3]
    return MultiplicationMemory(config, TernaryLayer.from_state(results["pairs"]["layer"]),
                                TernaryLayer.from_state(results["products"]["layer"]), products)


def digits_system(data, config=None, seed: int = 0, batch_size: int = 64,
                  batch_interval_ps: int = 1_000_000, link_ps: int = 100_000) -> SystemSpec:
    """The digits task as two actors: the teacher streams the thermometer-coded training
    images (one-vs-rest targets, ``contacts`` neurons per class, as models.hebbian_digits)
    for ``config.epochs`` epochs and scores the test set after each epoch."""
    from lolpim.models.hebbian.digits import N_CLASSES, DigitsConfig, thermometer
    config = config or DigitsConfig()
    x_train = thermometer(data.x_train, config.levels, data.full_scale)
    x_test = thermometer(data.x_test, config.levels, data.full_scale)
    unit_class = np.repeat(np.arange(N_CLASSES), config.contacts)
    targets = (unit_class[None, :] == data.y_train[:, None]).astype(np.int8)
    stages = [{"population": "digits", "x": x_train, "targets": targets, "labels": data.y_train,
               "contacts": config.contacts, "test_x": x_test, "test_labels": data.y_test,
               "max_epochs": config.epochs, "stop_when_exact": False}]
    return SystemSpec((
        ActorSpec("teacher", SOURCE_CLS, {"stages": stages, "batch_size": batch_size,
                                          "batch_interval_ps": batch_interval_ps, "link_ps": link_ps}),
        ActorSpec("digits", POPULATION_CLS, {"n_in": x_train.shape[1], "n_out": N_CLASSES * config.contacts,
                                             "rule": {"p_potentiate": config.p_potentiate,
                                                      "p_depress": config.p_depress},
                                             "threshold": 0.0, "margin": config.margin, "link_ps": link_ps}),
    ), seed=seed)
