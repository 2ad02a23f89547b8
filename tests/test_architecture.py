"""Architecture rules that the code must keep: import direction and no unsafe calls."""

from __future__ import annotations

import ast
import pathlib

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
