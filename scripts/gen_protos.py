"""Regenerate `generated/` from `protos/` with grpcio-tools; `--check` fails when it is stale.

grpcio-tools writes `from estore.users.v1 import ...`, which would collide with our own `estore`
package, so every import of a generated module is rewritten to `generated.estore...`.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUTPUT = ROOT / "generated"
_IMPORT = re.compile(r"^(\s*)(from|import) estore\.", re.MULTILINE)


def _generate(into: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={into}",
        f"--pyi_out={into}",
        f"--grpc_python_out={into}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for path in into.rglob("*.py*"):
        text = path.read_text()
        rewritten = _IMPORT.sub(r"\1\2 generated.estore.", text)
        if rewritten != text:
            path.write_text(rewritten)
    for folder in [into, *(p for p in into.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (into / "py.typed").touch()


def _differences(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(prefix + name for name in cmp.left_only + cmp.right_only)
        found.extend(
            prefix + name
            for name in cmp.common_files
            if Path(cmp.left, name).read_bytes() != Path(cmp.right, name).read_bytes()
        )
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(comparison, "")
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated/ is stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "generated"
        fresh.mkdir()
        _generate(fresh)
        if check:
            stale = _differences(fresh, OUTPUT) if OUTPUT.exists() else ["generated/"]
            if stale:
                print("generated/ is stale; run `make generate`. Differs:", *stale, sep="\n  ")
                return 1
            print("generated/ is up to date")
            return 0
        shutil.rmtree(OUTPUT, ignore_errors=True)
        shutil.copytree(fresh, OUTPUT)
    print(f"wrote {OUTPUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
