"""Every public name states its promise: a docstring, and for functions Args, Returns and Raises.

"Public" means listed in a module's ``__all__`` and defined in that module;
methods of public classes need at least a docstring. Constants are exempt
(their documentation is the attribute docstring beside them in the source).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import dp
import secagg

try:  # the Flower adapter, when the flower extra is installed
    import secagg_flower
except ImportError:
    secagg_flower = None


def _modules():
    for pkg in (secagg, dp, secagg_flower):
        if pkg is None:
            continue
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
    if not _raises_section_ok(doc):
        missing.append("Raises")
    return missing


def _raises_section_ok(doc: str) -> bool:
    """A ``Raises:`` section is either the one line ``Raises: nothing of its own.`` or indented entries below it."""
    match = re.search(r"^Raises:(.*)$", doc, re.M)
    if match is None:
        return False
    inline = match.group(1).strip()
    if inline:
        return inline.lower().startswith("nothing of its own")
    rest = doc[match.end() + 1 :].splitlines()
    return bool(rest) and rest[0].startswith((" ", "\t")) and bool(rest[0].strip())


@pytest.mark.parametrize(
    ("doc", "ok"),
    [
        ("Do it.\n\nRaises: nothing of its own.", True),
        ("Do it.\n\nRaises: Nothing of its own (as :func:`f`).", True),
        ("Do it.\n\nRaises:\n    ValueError: bad.", True),
        ("Do it.\n\nRaises: ValueError.", False),
        ("Do it.\n\nRaises:\n", False),
        ("Do it.", False),
    ],
)
def test_the_raises_section_is_entries_or_the_one_line_nothing_of_its_own(doc, ok):
    assert _raises_section_ok(doc) is ok


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
