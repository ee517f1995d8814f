"""Regenerate `generated/` from `protos/` with grpcio-tools; `--check` fails when it is stale.

grpcio-tools writes `from estore.users.v1 import ...`, which would collide with our own `estore`
package, so every import of a generated module is rewritten to `generated.estore...`.
The vendored `third_party/` protos are only imported: their Python code comes from the
googleapis-common-protos package. Beside the code goes `DESCRIPTOR_SET`, the protos with their
comments (source info) and every file they import, plus google/rpc's error details, which server
reflection serves so that grpcurl shows our comments and decodes error details.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
THIRD_PARTY = ROOT / "third_party"
OUTPUT = ROOT / "generated"
DESCRIPTOR_SET = "estore_descriptors.binpb"
# Not imported by our protos, but every error we send carries them.
ERROR_PROTOS = [f"google/rpc/{name}.proto" for name in ("status", "error_details", "code")]
_IMPORT = re.compile(r"^(\s*)(from|import) estore\.", re.MULTILINE)


def _protoc(*args: str) -> None:
    well_known = Path(protoc.__file__).parent / "_proto"
    if protoc.main(["protoc", f"-I{PROTOS}", f"-I{THIRD_PARTY}", f"-I{well_known}", *args]) != 0:
        raise SystemExit("protoc failed")


def _generate(into: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    _protoc(f"--python_out={into}", f"--pyi_out={into}", f"--grpc_python_out={into}", *sources)
    _protoc(
        f"--descriptor_set_out={into / DESCRIPTOR_SET}",
        "--include_imports",
        "--include_source_info",
        *sources,
        *ERROR_PROTOS,
    )
    _shape_for_reflection(into / DESCRIPTOR_SET)
    for path in into.rglob("*.py*"):
        text = path.read_text()
        rewritten = _IMPORT.sub(r"\1\2 generated.estore.", text)
        if rewritten != text:
            path.write_text(rewritten)
    for folder in [into, *(p for p in into.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
    (into / "py.typed").touch()


def _shape_for_reflection(path: Path) -> None:
    """Keep the set small and grpcurl's JSON as it always was.

    The comments of google/protobuf files go (descriptor.proto alone would triple the size). So
    do the fields' json_name: grpcurl prints a field under its json_name when a descriptor has
    one, else under its proto name, and reflection has always served descriptors without one
    (Python's pool has none), so grpcurl users and the README see `access_token`, as written in
    the protos.
    """
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    for file in files.file:
        if file.name.startswith("google/protobuf/"):
            file.ClearField("source_code_info")
        pending = list(file.message_type)
        while pending:
            message = pending.pop()
            for field in [*message.field, *message.extension]:
                field.ClearField("json_name")
            pending.extend(message.nested_type)
    path.write_bytes(files.SerializeToString(deterministic=True))


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
