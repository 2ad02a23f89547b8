"""Regenerate every file in protocol_spec/vectors/ from the generator modules.

Each ``gen_<name>.py`` beside this file defines ``generate() -> dict`` returning
the whole vector file (``name``, ``version``, ``source`` and the ``generate`` /
``verify`` / ``invalid`` families). The generators use the library itself with
fixed inputs and the deterministic source in ``detrandom.py``; the independent
re-implementation in ``verify_independent.py`` then checks the output.

Usage: ``python protocol_spec/tools/generate.py [name ...]``
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import sys

TOOLS = pathlib.Path(__file__).resolve().parent
VECTORS = TOOLS.parent / "vectors"


def _load(path: pathlib.Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(TOOLS))
    wanted = set(argv)
    for path in sorted(TOOLS.glob("gen_*.py")):
        name = path.stem.removeprefix("gen_")
        if wanted and name not in wanted:
            continue
        data = _load(path).generate()
        if data.get("name") != name:
            raise SystemExit(f"{path.name}: generate() returned name {data.get('name')!r}")
        out = VECTORS / f"{name}.json"
        out.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")
        counts = {f: len(data.get(f, [])) for f in ("generate", "verify", "invalid")}
        print(f"wrote {out.relative_to(TOOLS.parent.parent)} {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
