"""Markov-chain Hebbian learning with ternary synapses, as runs: a HebbianRun config in
(orchestration/learning_config.py), the result as plain data out (``run_task``: digits,
multiply or factorize, described in orchestration/commands/hebbian.py and docs/hebbian.md), its
text (``summary_text``) and its files (``write_outputs``: results.json, curves.csv and
learning_curves.png). The CLI and the Python API (orchestration/api_learning.py) both call them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lolpim.actors.hebbian.population import multiplication_memory, multiplication_system
from lolpim.core.errors import UserError
from lolpim.hardware.pim import load_pim_module
from lolpim.hardware.pim.ternary_layer import pim_inference_cost
from lolpim.models.hebbian.arithmetic import TableConfig, expected_pairs, train_multiplication
from lolpim.models.hebbian.digits import N_CLASSES, DigitsConfig, load_idx_digits, load_sklearn_digits, train_digits
from lolpim.orchestration.executors import make_executor
from lolpim.orchestration.learning_config import HebbianRun
from lolpim.orchestration.memory import check_fits
from lolpim.orchestration.results import save_figure, write_csv, write_text

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")


def _idx_files(directory: str) -> list[Path]:
    """The four standard MNIST file names, gzipped or not, with '-idx' or '.idx' spelling."""
    root, found = Path(directory), []
    for name in IDX_NAMES:
        candidates = [root / (variant + ext) for variant in (name, name.replace("-idx", ".idx"))
                      for ext in ("", ".gz")]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            raise UserError(f"--idx-dir {directory}: no {name}[.gz] there")
        found.append(hit)
    return found


def _transitions(history_counts, samples: int, synapses: int) -> dict:
    per_epoch = [int(c.sum()) / samples for c in history_counts]
    total = int(sum(c.sum() for c in history_counts))
    return {"per_sample_mean": total / (samples * len(history_counts)),
            "per_sample_first_epoch": per_epoch[0], "per_sample_last_epoch": per_epoch[-1],
            "per_synapse_per_sample": total / (samples * len(history_counts) * synapses),
            "total": total}


BYTES_PER_SYNAPSE = 9       # int8 weight, plus its float32 copies in the batched recall (W^T and scores)


def digits_bytes(config: DigitsConfig, data) -> int:
    """Memory of one digits run: the synapses and the drive of every output for every image."""
    n_in = data.x_train.shape[1] * config.levels
    n_out = N_CLASSES * config.contacts
    return BYTES_PER_SYNAPSE * n_in * n_out + 8 * n_out * (len(data.y_train) + len(data.y_test))


def run_digits(config: HebbianRun) -> dict:
    module = config.module or "lolpim-module"
    load_pim_module(module)  # a bad preset name fails now, not after training
    data = load_idx_digits(*_idx_files(config.idx_dir)) if config.idx_dir else load_sklearn_digits()
    digits = DigitsConfig(**{k: v for k, v in (("epochs", config.epochs), ("contacts", config.contacts))
                             if v is not None})
    check_fits(digits_bytes(digits, data), f"--contacts {digits.contacts}",
               f"{BYTES_PER_SYNAPSE} B x {data.x_train.shape[1] * digits.levels} inputs x "
               f"{N_CLASSES * digits.contacts} output neurons", "use fewer contacts")
    runs = []
    for seed in range(config.seed, config.seed + config.seed_count):
        result = train_digits(data, digits, seed)
        synapses = result.layer.weights.size
        n_train = len(data.y_train)
        samples = len(result.transitions_per_sample)
        runs.append({
            "seed": seed, "test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy,
            "curve": result.curve,
            "transitions": {"per_sample_mean": float(result.transitions_per_sample.mean()),
                            "per_sample_first_epoch": result.curve[0]["transitions_per_sample"],
                            "per_sample_last_epoch": result.curve[-1]["transitions_per_sample"],
                            "per_synapse_per_sample": float(result.transitions_per_sample.sum()
                                                            / (samples * synapses)),
                            "by_kind": _kinds(result.counts)},
            "weights_fraction": {str(s): float((result.layer.weights == s).mean()) for s in (-1, 0, 1)},
            "samples_per_epoch": n_train})
        last_layer = result.layer
    accs = np.array([r["test_accuracy"] for r in runs])
    pim = pim_inference_cost(last_layer, module=module).as_dict()
    return {"task": "digits", "dataset": data.name, "config": vars(digits),
            "synapses": int(last_layer.weights.size), "inputs": int(last_layer.config.n_in),
            "runs": runs, "test_accuracy_mean": float(accs.mean()), "test_accuracy_std": float(accs.std()),
            "pim_inference": pim}


def _kinds(counts) -> dict:
    states = (-1, 0, 1)
    return {f"{states[i]:+d}->{states[j]:+d}": int(counts[i, j])
            for i in range(3) for j in range(3) if i != j and abs(i - j) == 1}


def _table_run(max_operand: int, seed: int):
    return train_multiplication(TableConfig(max_operand=max_operand), seed=seed)


def _table(max_operand: int, seed: int, executor: str):
    """(memory, per-layer curves, actor-run facts or None). ``direct`` trains in this process
    with models.hebbian_arithmetic; ``inline``/``ray`` train the same two layers as synapse
    population actors taught by messages (actors/hebbian/population.py)."""
    if executor == "direct":
        memory = _table_run(max_operand, seed)
        return memory, _table_curves(memory), None
    run = make_executor(executor).run(multiplication_system(max_operand, seed=seed))
    memory = multiplication_memory(run.results, max_operand)
    teacher = run.results["teacher"]
    layers = {}
    samples = max_operand * max_operand
    for name, stage in zip(("operands->pairs", "pairs->products"), teacher["stages"]):
        pop = run.results[stage["population"]]
        counts = [np.full((1,), p["transitions"]) for p in stage["curve"]]
        synapses = int(np.frombuffer(pop["layer"]["weights"], dtype=np.int8).size)
        layers[name] = {"epochs": stage["epochs"],
                        "curve": [{k: p[k] for k in ("epoch", "recall_accuracy", "transitions_per_sample")}
                                  for p in stage["curve"]],
                        "synapses": synapses, "transitions": _transitions(counts, samples, synapses),
                        "by_kind": pop["by_kind"]}
    facts = {"executor": executor, "actors": 3, "events": run.events,
             "simulated_time_s": run.end_time_ps * 1e-12, "chain_recall_accuracy": teacher["chain_accuracy"],
             "wall_s": run.stats["wall_s"]}
    return memory, layers, facts


def _table_curves(memory) -> dict:
    layers = {}
    for name, layer, history in zip(("operands->pairs", "pairs->products"),
                                    (memory.pair_layer, memory.product_layer), memory.histories):
        samples = memory.n * memory.n
        curve = [dict(m, transitions_per_sample=int(c.sum()) / samples)
                 for m, c in zip(history.epoch_metrics, history.counts_per_epoch)]
        for point in curve:
            point.pop("stop", None)
        layers[name] = {"epochs": len(curve), "curve": curve, "synapses": int(layer.weights.size),
                        "transitions": _transitions(history.counts_per_epoch, samples, layer.weights.size),
                        "by_kind": _kinds(sum(history.counts_per_epoch))}
    return layers


def run_multiply(config: HebbianRun) -> dict:
    n = config.max_operand or 9
    runs = []
    for seed in range(config.seed, config.seed + config.seed_count):
        memory, layers, facts = _table(n, seed, config.executor)
        wrong = [(a, b, memory.multiply(a, b)) for a in range(1, n + 1) for b in range(1, n + 1)
                 if memory.multiply(a, b) != a * b]
        runs.append({"seed": seed, "recall_accuracy": 1 - len(wrong) / (n * n),
                     "wrong": [list(w) for w in wrong[:20]], "layers": layers})
        if facts:
            runs[-1]["actor_run"] = facts
    return {"task": "multiply", "max_operand": n, "products": int(len(memory.products)), "runs": runs}


def _trial_division(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


def run_factorize(config: HebbianRun) -> dict:
    numbers = list(config.numbers) or list(range(4, 82))   # each >= 2 and the table <= 1..64: HebbianRun
    # a table 1..N holds a pair for every composite up to 2N, so N = max/2 decides them all
    n = config.max_operand or max(9, (max(numbers) + 1) // 2)
    runs = []
    for seed in range(config.seed, config.seed + config.seed_count):
        memory, layers, facts = _table(n, seed, config.executor)
        rows = []
        for number in numbers:
            pairs = memory.factor_pairs(number)
            try:
                primes = memory.prime_factors(number)
            except ValueError:   # not a product of this table
                primes = None
            rows.append({"number": number, "factor_pairs": [list(p) for p in pairs],
                         "pairs_correct": pairs == expected_pairs(number, n),
                         "prime_factors": primes, "primes_correct": primes == _trial_division(number)})
        product_symbols = [int(p) for p in memory.products]
        pairs_ok = sum(memory.factor_pairs(p) == expected_pairs(p, n) for p in product_symbols)
        runs.append({"seed": seed, "rows": rows,
                     "all_products_pairs_correct": f"{pairs_ok}/{len(product_symbols)}",
                     "prime_factorisations_correct": f"{sum(r['primes_correct'] for r in rows)}/{len(rows)}",
                     "layers": layers})
        if facts:
            runs[-1]["actor_run"] = facts
    return {"task": "factorize", "max_operand": n, "numbers": numbers, "runs": runs}


def summary_text(result: dict) -> str:
    lines: list[str] = []
    add = lines.append
    if result["task"] == "digits":
        add(f"digits ({result['dataset']}): {result['inputs']} inputs, {result['synapses']} ternary synapses")
        add("seed  test acc  train acc  transitions/sample (mean, first epoch, last epoch)  per synapse")
        for r in result["runs"]:
            t = r["transitions"]
            add(f"{r['seed']:>4}  {100 * r['test_accuracy']:7.2f}%  {100 * r['train_accuracy']:8.2f}%  "
                  f"{t['per_sample_mean']:8.2f} {t['per_sample_first_epoch']:8.2f} {t['per_sample_last_epoch']:8.2f}"
                  f"{'':22}{t['per_synapse_per_sample']:.2e}")
        add(f"test accuracy over {len(result['runs'])} seeds: {100 * result['test_accuracy_mean']:.2f}% "
              f"+/- {100 * result['test_accuracy_std']:.2f}% (mean +/- std)")
        p = result["pim_inference"]
        add(f"PIM inference on {p['module']} (batch {p['batch']}): 2-bit weights {p['ternary_time_s'] * 1e9:.1f} ns, "
              f"{p['ternary_energy_j'] * 1e9:.3f} nJ; bf16 {p['bf16_time_s'] * 1e9:.1f} ns, "
              f"{p['bf16_energy_j'] * 1e9:.3f} nJ")
        return "\n".join(lines)
    for r in result["runs"]:
        head = f"seed {r['seed']}: "
        if result["task"] == "multiply":
            head += f"table 1..{result['max_operand']}, recall accuracy {100 * r['recall_accuracy']:.1f}%"
        else:
            head += (f"table 1..{result['max_operand']}, factor pairs of every product "
                     f"{r['all_products_pairs_correct']}, prime factorisations {r['prime_factorisations_correct']}")
        add(head)
        if "actor_run" in r:
            f = r["actor_run"]
            add(f"  trained in {f['actors']} actors ({f['executor']} executor): {f['events']} events, "
                  f"{f['simulated_time_s'] * 1e6:.1f} us simulated, recall through the actors "
                  f"{100 * f['chain_recall_accuracy']:.1f}%, wall {f['wall_s']:.2f} s")
        for name, layer in r["layers"].items():
            t = layer["transitions"]
            add(f"  {name}: {layer['epochs']} epochs, {t['per_sample_mean']:.2f} transitions/sample "
                  f"(first epoch {t['per_sample_first_epoch']:.2f}, last {t['per_sample_last_epoch']:.2f})")
        if result["task"] == "factorize":
            for row in r["rows"]:
                pairs = " ".join(f"{a}x{b}" for a, b in row["factor_pairs"]) or "-"
                primes = "x".join(map(str, row["prime_factors"])) if row["prime_factors"] else "not stored"
                flag = "" if row["primes_correct"] and row["pairs_correct"] else "  WRONG"
                add(f"  {row['number']:>4} = {primes:<14} pairs: {pairs}{flag}")
    return "\n".join(lines)


def write_outputs(out: Path, result: dict) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json"]
    write_text(written[0], json.dumps(result, indent=1))
    rows = []
    for r in result["runs"]:
        if result["task"] == "digits":
            rows += [dict(seed=r["seed"], layer="digits", **p) for p in r["curve"]]
        else:
            rows += [dict(seed=r["seed"], layer=name, **p) for name, layer in r["layers"].items()
                     for p in layer["curve"]]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    write_csv(out / "curves.csv", rows, fields=fields)
    written.append(out / "curves.csv")

    fig, (acc_ax, tr_ax) = plt.subplots(1, 2, figsize=(10, 4))
    metric = "test_accuracy" if result["task"] == "digits" else "recall_accuracy"
    for key in dict.fromkeys((row["seed"], row["layer"]) for row in rows):
        pts = [row for row in rows if (row["seed"], row["layer"]) == key]
        label = f"seed {key[0]}" + ("" if result["task"] == "digits" else f" {key[1]}")
        acc_ax.plot([p["epoch"] for p in pts], [100 * p[metric] for p in pts], marker=".", label=label)
        tr_ax.plot([p["epoch"] for p in pts], [p["transitions_per_sample"] for p in pts], marker=".", label=label)
    acc_ax.set(xlabel="epoch", ylabel=metric.replace("_", " ") + " (%)", title=f"hebbian {result['task']}")
    tr_ax.set(xlabel="epoch", ylabel="synapse transitions per sample",
              title="weight transitions (endurance, write energy)")
    for ax in (acc_ax, tr_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "learning_curves.png", dpi=120)
    plt.close(fig)
    written.append(out / "learning_curves.png")
    return written


def run_task(config: HebbianRun) -> dict:
    """The task's result as plain data (the CLI's --json)."""
    return {"digits": run_digits, "multiply": run_multiply, "factorize": run_factorize}[config.task](config)
