"""No import cycles between packages, read from the source (every import, also those inside
functions): the IR (``firmware``) depends on nothing of ours beyond the base modules
``triginfer.errors`` and ``triginfer.atomic`` (which import nothing of ours) and
``quantization``; the targets depend on the IR; the pipeline on the targets.

Nodes are the component packages (``firmware``, ``emulation``, ``hls_export``, ...) and,
because the ``triginfer`` folder holds both the base modules (errors, configs, ROOT I/O) and
the application (CLI, pipeline, steps, report), each module of that folder on its own (and each
sub-package of it, such as ``triginfer.cli``, as one node)."""

from __future__ import annotations

import ast
from collections import defaultdict

from tests.conftest import REPO

PACKAGES = ("firmware", "emulation", "hls_export", "gpu_runtime", "latency_bench",
            "quantization", "trigger_models")


def _node_of_file(path) -> str:
    rel = path.relative_to(REPO)
    if rel.parts[0] == "triginfer":
        if len(rel.parts) > 2:                    # a sub-package: triginfer.cli
            return f"triginfer.{rel.parts[1]}"
        return "triginfer" if rel.stem == "__init__" else f"triginfer.{rel.stem}"
    return rel.parts[0]


def _node_of_import(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] != "triginfer":
        return None
    if len(parts) == 1:
        return "triginfer"
    if parts[1] in PACKAGES:
        return parts[1]
    if (REPO / "triginfer" / f"{parts[1]}.py").exists() or (REPO / "triginfer" / parts[1]).is_dir():
        return f"triginfer.{parts[1]}"
    return "triginfer"


def import_graph() -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    """node -> nodes it imports, and one place of each edge (file:line)."""
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    files = [p for folder in ("triginfer", *PACKAGES) for p in (REPO / folder).rglob("*.py")]
    for path in files:
        src = _node_of_file(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                dst = _node_of_import(name)
                if dst and dst != src:
                    edges[src].add(dst)
                    where.setdefault((src, dst), f"{path.relative_to(REPO)}:{node.lineno}")
    return edges, where


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    edges, where = import_graph()
    cycles = _cycles(edges)
    detail = [[f"{a} -> {b} ({where[(a, b)]})" for a in c for b in c if (a, b) in where]
              for c in cycles]
    assert not cycles, detail


def test_the_ir_depends_only_on_errors_and_fixed_point():
    edges, where = import_graph()
    extra = edges["firmware"] - {"triginfer.errors", "triginfer.atomic", "quantization"}
    assert not extra, [where[("firmware", e)] for e in extra]
    for base in ("triginfer.errors", "triginfer.atomic"):
        assert not edges.get(base), [where[(base, e)] for e in edges.get(base, ())]
    quantization_uses = {e for e in edges["quantization"]} - {"triginfer.errors"}
    assert not quantization_uses, [where[("quantization", e)] for e in quantization_uses]


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
