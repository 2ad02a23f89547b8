"""The adapter sits above the protocol: secagg and dp never import it."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _top_imports(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_secagg_and_dp_never_import_the_flower_adapter_or_flower():
    offenders = [
        str(p.relative_to(ROOT))
        for pkg in ("secagg", "dp")
        for p in sorted((ROOT / pkg).rglob("*.py"))
        if _top_imports(p) & {"secagg_flower", "flwr"}
    ]
    assert offenders == []


def test_the_adapter_uses_no_pickle_and_no_stdlib_random():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "secagg_flower").rglob("*.py"))
        if _top_imports(p) & {"pickle", "marshal", "shelve", "random"}
    ]
    assert offenders == []
