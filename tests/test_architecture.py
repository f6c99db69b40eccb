"""The package's seams: one import direction (llm -> core, sims -> core), no import
cycles, no second copy of sims/llm, and a new scheduler is one module plus one list entry."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from banditcurr import _registry

ROOT = Path(__file__).resolve().parents[1]
# import name -> folder (pyproject.toml's package-dir)
PACKAGES = {"banditcurr": ROOT / "banditcurr", "banditcurr.sims": ROOT / "sims", "banditcurr.llm": ROOT / "llm"}


def module_files():
    """import name -> path of every module of the distribution."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def import_graph():
    """module -> the modules of ours it imports anywhere in its source (function-level
    imports included), plus the registry's list (imported by name at run time)."""
    files = module_files()
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base for alias in node.names]
            else:
                continue
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    graph["banditcurr._registry"] |= {f"banditcurr.{m}" if "." not in m else m for m in _registry.SCHEDULER_MODULES}
    return graph


def cycles(graph):
    """Every strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_there_are_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_never_imports_sims_or_llm():
    graph = import_graph()
    core = [m for m in graph if not m.startswith(("banditcurr.sims", "banditcurr.llm"))]
    assert len(core) > 20
    upward = {m: sorted(t for t in graph[m] if t.startswith(("banditcurr.sims", "banditcurr.llm"))) for m in core}
    assert {m: t for m, t in upward.items() if t} == {}


@pytest.mark.parametrize("name, hint", [("sims", "from banditcurr import sims"), ("llm", "from banditcurr import llm")])
def test_top_level_import_of_a_subpackage_folder_fails_with_a_pointer(name, hint):
    result = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and hint in result.stderr


# -- a new scheduler: one module plus one list entry --------------------------------------------

TOY = '''"""A toy scheduler for tests/test_architecture.py: p_k proportional to 1 + successes_k."""

import numpy as np

from banditcurr._feedback import count_successes
from banditcurr._sampling import sample_from_probs
from banditcurr.base import Kernels, Param, Scheduler, jit

FIELDS = ("successes",)


@jit
def _sizes(params, n_arms):
    return n_arms, 0


@jit
def _views(params, n_arms, f, i):
    return (f[:n_arms],)


@jit
def _init(params, n_arms, f, i):
    f[:] = 0.0


@jit
def _update(params, n_arms, f, i, arms, rewards, offsets):
    for g in range(arms.shape[0]):
        f[arms[g]] += count_successes(rewards, offsets[g], offsets[g + 1], params[0])


@jit
def _probs(params, n_arms, f, i, out):
    out[:] = (1.0 + f[:n_arms]) / (n_arms + f[:n_arms].sum())


@jit
def _sample(params, n_arms, f, i, rng, out):
    p = np.empty(n_arms)
    _probs(params, n_arms, f, i, p)
    sample_from_probs(rng, p, out)


class Toy(Scheduler):
    """A toy: p_k = (1 + s_k) / (K + sum_j s_j), s_k the successes (reward >= threshold)
    of arm k so far. Defaults: threshold 0.5. Source: none, it only tests the registry."""

    name = "toy"
    kernels = Kernels(FIELDS, _sizes, _views, _init, _update, _sample, _probs)
    params = (Param("threshold", 0.5, "float", doc="a rollout succeeds when its reward >= threshold"),)
'''


@pytest.mark.slow
def test_a_toy_scheduler_is_one_module_and_one_list_entry(tmp_path):
    """The toy module is written to a temporary package and named in the list (the
    BANDITCURR_TEST_SCHEDULER hook of conftest.py appends it, as one entry of
    SCHEDULER_MODULES does); the generic suites then test it with no new test code.
    A private Numba cache keeps the extra kind away from the shared one."""
    (tmp_path / "toys").mkdir()
    (tmp_path / "toys" / "__init__.py").write_text("")
    (tmp_path / "toys" / "toy_scheduler.py").write_text(TOY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "BANDITCURR_TEST_SCHEDULER": "toys.toy_scheduler", "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    suites = ["tests/test_contract.py", "tests/test_bad_input.py", "tests/test_dispatch.py"]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "toy", *suites],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 20, summary  # every generic check, for the toy
