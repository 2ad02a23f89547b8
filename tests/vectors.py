"""The one loader of the protocol_spec test vectors.

Vector files live in ``protocol_spec/vectors/<name>.json`` with the layout::

    {"name": "<name>", "version": 1, "source": "...",
     "generate": [{"id": "...", ...}],   # exact outputs from fixed inputs
     "verify":   [{"id": "...", ...}],   # must be accepted
     "invalid":  [{"id": "...", "error": "ExceptionClassName", ...}]}

Byte strings are lowercase hex. Tests use :func:`params` to get one pytest
parameter (with the vector's id) per entry.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
from typing import Any

import pytest

VECTORS_DIR = pathlib.Path(__file__).resolve().parent.parent / "protocol_spec" / "vectors"
FAMILIES = ("generate", "verify", "invalid")


def load(name: str) -> dict[str, Any]:
    """Load and minimally validate ``protocol_spec/vectors/<name>.json``."""
    path = VECTORS_DIR / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("name") != name:
        raise ValueError(f"{path}: 'name' is {data.get('name')!r}, expected {name!r}")
    for family in FAMILIES:
        entries = data.get(family, [])
        ids = [e["id"] for e in entries]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{path}: duplicate ids in family {family!r}")
        if family == "invalid":
            for e in entries:
                if "error" not in e:
                    raise ValueError(f"{path}: invalid vector {e['id']!r} names no error")
    return data


def params(name: str, family: str) -> list[Any]:
    """Return ``pytest.param(entry, id=entry['id'])`` for each entry of a family."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    entries = load(name).get(family, [])
    return [pytest.param(e, id=e["id"]) for e in entries]


def unhex(s: str) -> bytes:
    """Decode a lowercase hex string from a vector file."""
    return bytes.fromhex(s)


@contextlib.contextmanager
def raises_exactly(error: type[BaseException]):
    """Like ``pytest.raises(error)``, but a subclass of ``error`` fails: an
    invalid vector names the exact exception class it must raise."""
    with pytest.raises(error) as info:
        yield info
    assert info.type is error, f"raised {info.type.__name__}, the vector names {error.__name__}"
