"""Every public name states its promise: a docstring, and for functions Args, Returns and Raises.

"Public" means listed in a module's ``__all__`` and defined in that module;
methods of public classes need at least a docstring. Constants are exempt
(their documentation is the attribute docstring beside them in the source).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dp
import secagg


def _modules():
    for pkg in (secagg, dp):
        yield pkg.__name__
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            yield info.name


def _public():
    for name in _modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == name:
                yield pytest.param(obj, id=f"{name}.{attr}")


def _missing_sections(func) -> list[str]:
    doc = inspect.getdoc(func) or ""
    signature = inspect.signature(func)
    missing = []
    if any(p not in ("self", "cls") for p in signature.parameters) and "Args:" not in doc:
        missing.append("Args")
    if signature.return_annotation not in (None, "None", inspect.Signature.empty) and "Returns:" not in doc:
        missing.append("Returns")
    if "Raises:" not in doc:
        missing.append("Raises")
    return missing


@pytest.mark.parametrize("obj", list(_public()))
def test_public_name_has_a_docstring_stating_its_promise(obj):
    assert inspect.getdoc(obj), f"{obj.__qualname__} has no docstring"
    if inspect.isfunction(obj):
        assert not _missing_sections(obj), f"{obj.__qualname__} lacks {_missing_sections(obj)}"
    else:
        for name, member in vars(obj).items():
            func = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
            if not name.startswith("_") and inspect.isfunction(func):
                assert inspect.getdoc(func), f"{obj.__qualname__}.{name} has no docstring"
