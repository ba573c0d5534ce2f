"""The layer rules of docs/architecture.md, checked by parsing every import (no module is run).

Layers, top to bottom: orchestration -> actors -> hardware -> models -> core. A module may
import its own layer and the layers below it, never above; hardware may read models/ only
for the plain workload descriptions it prices; there is no import cycle between any two
modules; and a function-local import is kept only for an optional or heavy third-party
dependency, never for project code (a local project import hides a cycle or a layer break).
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("core", "models", "hardware", "actors", "orchestration")   # bottom to top
# what hardware/ may read of models/: descriptions of the work it prices, nothing that computes
HARDWARE_MAY_READ = ("models.llm.architecture", "models.llm.workload", "models.cbp.export")
# third-party modules a function may import locally: optional extras or slow imports the CLI
# must not pay for on every start
LOCAL_IMPORT_OK = ("torch", "matplotlib", "ray", "sklearn", "prometheus_client", "numba", "scipy", "pandas")


@lru_cache(maxsize=None)
def _modules() -> dict[str, Path]:
    out = {}
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _resolve(name: str) -> str | None:
    """'lolpim.a.b.c' -> the longest project module it names ('a.b.c' or 'a.b'), else None."""
    if not name.startswith("lolpim."):
        return None
    parts = name[len("lolpim."):].split(".")
    mods = _modules()
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in mods:
            return ".".join(parts[:n])
    return None


@lru_cache(maxsize=None)
def _imports(module: str) -> tuple[tuple[str, int, bool], ...]:
    """(imported name, line, is function-local) for every import in ``module``."""
    path = _modules()[module]
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:   # imports under a module-level `if`/`try` are still module level
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}:{node.lineno}: relative import; write lolpim.<layer>..."
            base = node.module or ""
            # "from lolpim.x import y" may name the module lolpim.x.y
            names = [f"{base}.{a.name}" if _resolve(f"{base}.{a.name}") == f"{base}.{a.name}"[7:] else base
                     for a in node.names]
        else:
            continue
        found += [(n, node.lineno, id(node) not in top_level) for n in names]
    return tuple(dict.fromkeys(found))


def _project_edges() -> dict[str, set[str]]:
    edges = {m: set() for m in _modules()}
    for m in _modules():
        for name, _, _ in _imports(m):
            target = _resolve(name)
            if target and target != m:
                edges[m].add(target)
    return edges


def test_no_import_cycle_between_modules():
    edges = _project_edges()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_layers_import_only_downward():
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for m, targets in _project_edges().items():
        layer = m.split(".")[0]
        for t in targets:
            t_layer = t.split(".")[0]
            if rank[t_layer] > rank[layer]:
                bad.append(f"{m} -> {t} (upward)")
            elif layer == "hardware" and t_layer == "models" and t not in HARDWARE_MAY_READ:
                bad.append(f"{m} -> {t} (hardware reads only workload descriptions from models/)")
    assert not bad, "\n".join(sorted(bad))


def test_ray_is_imported_only_by_the_ray_executor_and_orchestration():
    bad = [f"{m}:{line}" for m in _modules() for name, line, _ in _imports(m)
           if name.split(".")[0] == "ray" and not (m.startswith("orchestration.")
                                                    or m == "actors.kernel.ray_executor")]
    assert not bad, "ray imported below orchestration: " + ", ".join(bad)


def test_function_local_imports_are_only_for_optional_or_heavy_dependencies():
    bad = [f"{m}:{line} imports {name}" for m in _modules() for name, line, local in _imports(m)
           if local and name.split(".")[0] not in LOCAL_IMPORT_OK]
    assert not bad, f"{len(bad)} function-local imports of project or light modules:\n" + "\n".join(bad)


def test_the_kernel_holds_no_domain_code():
    domain = ("actors.llm", "actors.plasticity", "actors.hebbian", "actors.demo")
    bad = [f"{m} -> {t}" for m, targets in _project_edges().items() if m.startswith("actors.kernel")
           for t in targets if not (t.startswith("actors.kernel") or t.startswith("core"))
           or t.startswith(domain)]
    assert not bad, "\n".join(bad)
