"""Architecture rules that the code must keep: import direction and no unsafe calls."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_dp_never_imports_secagg():
    offenders = {str(p.relative_to(ROOT)) for p in _files("dp") if any(m.split(".")[0] == "secagg" for m in _imports(p))}
    assert offenders == set()


def test_secagg_never_imports_dp():
    offenders = {str(p.relative_to(ROOT)) for p in _files("secagg") if any(m.split(".")[0] == "dp" for m in _imports(p))}
    assert offenders == set()


def test_primitives_import_nothing_from_the_protocol_layers():
    upper = ("secagg.protocol", "secagg.messages", "secagg.codec", "secagg.driver", "secagg.ckks", "secagg.cli")
    offenders = {
        str(p.relative_to(ROOT))
        for p in _files("secagg/primitives")
        if any(m.startswith(upper) for m in _imports(p))
    }
    assert offenders == set()


def test_protocol_state_machines_do_no_io():
    forbidden = {"socket", "threading", "asyncio", "time", "select", "subprocess"}
    offenders = {
        str(p.relative_to(ROOT))
        for p in _files("secagg/protocol")
        if {m.split(".")[0] for m in _imports(p)} & forbidden
    }
    assert offenders == set()


def test_no_pickle_eval_or_stdlib_random_in_library_code():
    bad_modules = {"pickle", "marshal", "shelve", "random"}
    offenders = []
    for p in _files("secagg") + _files("dp"):
        mods = {m.split(".")[0] for m in _imports(p)}
        if mods & bad_modules:
            offenders.append(f"{p.relative_to(ROOT)}: imports {sorted(mods & bad_modules)}")
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"eval", "exec"}:
                offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}: {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr == "random" and isinstance(node.value, ast.Name) and node.value.id in {"np", "numpy"}:
                offenders.append(f"{p.relative_to(ROOT)}:{node.lineno}: np.random")
    assert offenders == []


# ---------------------------------------------------------------------------- the import graph


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph(*packages: str) -> dict[str, set[str]]:
    """``{module: modules it imports}`` within ``packages``, function-level imports included.

    ``from a.b import c`` counts as an edge to ``a.b.c`` when that is a module
    of the tree, else to ``a.b``. The implicit import of parent packages is not
    an edge (every module would otherwise depend on its package's facade).
    """
    files = {_module_name(p): p for pkg in packages for p in _files(pkg)}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                for a in node.names:
                    edges.add(f"{module}.{a.name}" if f"{module}.{a.name}" in files else module)
        graph[name] = {m for m in edges if m in files and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# The last circle removed by issue 9 (ddp_epsilon moved beside the accountant); kept as a named regression check.
KNOWN_DP_CIRCLE = frozenset({"dp.ddp_rdp", "dp.accounting"})


def test_the_cycle_finder_finds_circles_and_only_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == {frozenset("abc")}
    assert _cycles({"a": {"b"}, "b": set()}) == set()


def test_no_import_circles_in_secagg_or_dp_function_level_imports_included():
    circles = _cycles(_import_graph("secagg", "dp"))
    assert circles == set(), [sorted(c) for c in circles]


def test_no_import_circle_between_ddp_rdp_and_accounting():
    assert KNOWN_DP_CIRCLE not in _cycles(_import_graph("dp"))


# Layers of secagg, lowest first (DESIGN.md "Layers"): a module may import only from its own layer or below.
SECAGG_LAYERS: tuple[tuple[str, ...], ...] = (
    ("secagg.errors", "secagg.kinds", "secagg.result"),
    ("secagg.primitives",),
    ("secagg.finder", "secagg.params", "secagg.round_input"),
    ("secagg.messages", "secagg.codec"),
    ("secagg.protocol",),
    ("secagg.ckks", "secagg._clients"),
    ("secagg.driver",),
    ("secagg.simulate",),
    ("secagg.cli", "secagg"),
)


def _layer(module: str) -> int:
    best, rank = -1, None
    for i, prefixes in enumerate(SECAGG_LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank is not None, f"{module} is in no layer of SECAGG_LAYERS"
    return rank


def test_no_upward_import_in_secagg_function_level_imports_included():
    graph = _import_graph("secagg")
    upward = sorted(
        f"{m} ({_layer(m)}) -> {d} ({_layer(d)})" for m, deps in graph.items() for d in deps if _layer(d) > _layer(m)
    )
    assert upward == []
