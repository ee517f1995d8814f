"""The Go and Java templates generate, offline, into packages with readable, distinct names.

The plugins come from Debian (`make client-deps`): protoc-gen-go, protoc-gen-go-grpc, protoc with
its builtin Java generator, and grpc-java's plugin.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = str(Path(sys.executable).parent / "buf")
SERVICES = ("common", "users", "inventory", "payments")
PLUGINS = {
    "buf.gen.go.yaml": ("protoc-gen-go", "protoc-gen-go-grpc"),
    "buf.gen.java.yaml": ("protoc", "grpc_java_plugin"),
}


def generate(template: str, into: Path) -> Path:
    """Run `buf generate` with `template`, writing under `into`."""
    for plugin in PLUGINS[template]:
        assert shutil.which(plugin), f"{plugin} is missing: run `make client-deps`"
    subprocess.run(
        [BUF, "generate", "--template", template, "--output", str(into)],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return into / "gen"


@pytest.fixture(scope="module")
def go(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("buf.gen.go.yaml", tmp_path_factory.mktemp("go")) / "go"


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate("buf.gen.java.yaml", tmp_path_factory.mktemp("java")) / "java"


def _package(path: Path) -> str:
    """The package a Go or Java source file declares."""
    match = re.search(r"^package ([\w.]+);?$", path.read_text(), re.MULTILINE)
    assert match, path
    return match.group(1)


def test_go_packages_are_named_after_their_service(go: Path) -> None:
    for service in SERVICES:
        folder = go / "estore" / service / "v1"
        files = sorted(folder.glob("*.go"))
        assert files, folder
        assert {_package(f) for f in files} == {f"{service}v1"}
    assert (go / "estore/inventory/v1/inventory_service_grpc.pb.go").exists()


def test_go_imports_our_packages_by_their_module_path_and_googleapis_from_genproto(
    go: Path,
) -> None:
    code = (go / "estore/inventory/v1/inventory_service.pb.go").read_text()
    assert '"example.com/estore/gen/go/estore/common/v1"' in code
    assert '"google.golang.org/genproto/googleapis/api/annotations"' in code
    assert not (go / "google").exists()  # googleapis' own Go packages are used, not copies


def test_go_has_an_error_reason_constant_per_reason(go: Path) -> None:
    code = (go / "estore/common/v1/error_reason.pb.go").read_text()
    assert "ErrorReason_INSUFFICIENT_STOCK ErrorReason = 33" in code


def test_java_packages_are_com_estore_service_v1(java: Path) -> None:
    for service in SERVICES:
        folder = java / "com" / "estore" / service / "v1"
        files = sorted(folder.glob("*.java"))
        assert files, folder
        assert {_package(f) for f in files} == {f"com.estore.{service}.v1"}
    assert (java / "com/estore/inventory/v1/InventoryServiceGrpc.java").exists()
    assert (java / "com/estore/inventory/v1/Product.java").exists()  # one class per message
    assert (java / "com/estore/common/v1/ErrorReason.java").exists()
    assert not (java / "com/google").exists()  # com.google.rpc comes from googleapis' jars
