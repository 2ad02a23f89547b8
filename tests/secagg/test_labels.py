"""The SPEC's label table (chapter "Conventions") lists every ``secagg/v1/`` label the code uses."""

from __future__ import annotations

import pathlib
import re

from secagg.primitives import kex

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTER = ROOT / "protocol_spec" / "chapters" / "10-conventions.md"


def _table_names() -> set[str]:
    text = CHAPTER.read_text(encoding="utf-8")
    table = text.split("### Labels and domain separation", 1)[1].split("###", 1)[0]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z0-9-]+)`", line.split("|")[1]))
    return names


PACKAGES = ("secagg", "secagg_flower", "dp")


def _sources():
    for package in PACKAGES:
        yield from (ROOT / package).rglob("*.py")


def _code_names() -> set[str]:
    # every b"secagg/v1/<name>" literal, every kex.PURPOSE_* constant and every purpose="<name>" literal passed
    # to a labelled primitive (aead.associated_data, kex.derive_key), outside docstring examples (>>> lines)
    names: set[str] = set()
    for path in _sources():
        for line in path.read_text(encoding="utf-8").splitlines():
            names.update(re.findall(r'b"secagg/v1/([a-z0-9-]+)', line))
            if not line.lstrip().startswith((">>>", "...")):
                names.update(re.findall(r'\bpurpose="([a-z0-9-]+)"', line))
    names.update(v for k, v in vars(kex).items() if k.startswith("PURPOSE_"))
    return names


def test_the_scan_finds_purpose_literals():
    # the AEAD purpose of an encrypted share is passed as a string literal (session.share_associated_data):
    # the scan must see it, or a new purpose passed the same way would escape the table check
    assert "share" in _code_names()


def test_every_label_in_the_code_is_in_the_spec_table():
    code, table = _code_names(), _table_names()
    assert {"ring-order", "low-order-probe", "session", "advertise"} <= code
    assert code - table == set()


def test_every_label_is_followed_by_its_separator_byte():
    # in code the literal ends with \x00; in docstrings the formula says `|| 0x00`; the ring-order and PRG
    # labels are constants whose one use appends the separator
    pattern = re.compile(r'b"secagg/v1/([a-z0-9-]+)(\\x00)?"(\s*(\|\||‖)\s*0x00)?')
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        for match in pattern.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1 : text.find("\n", match.end())]
            ok = match.group(2) or match.group(3) or line.startswith(("RING_ORDER_LABEL = ", "PRG_LABEL = "))
            assert ok, f"{path.name}: label {match.group(1)!r} has no 0x00 separator: {line.strip()}"
    assert 'RING_ORDER_LABEL + b"\\x00"' in (ROOT / "secagg" / "primitives" / "ordered_tree.py").read_text()
    assert 'PRG_LABEL + b"\\x00"' in (ROOT / "secagg" / "primitives" / "prg.py").read_text()
