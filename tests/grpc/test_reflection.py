"""grpcurl over reflection shows our comments, resolves every symbol, and decodes error details."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from estore.common.config import Settings
from estore.common.reflection import V1_SERVICE_NAME
from estore.inventory.app import create_service
from tests.helpers import running_server

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = str(Path(sys.executable).parent / "grpcurl")
BUF = str(Path(sys.executable).parent / "buf")
INVENTORY = "estore.inventory.v1.InventoryService"


async def grpcurl(*args: str) -> tuple[int, str]:
    """Run grpcurl without blocking the event loop the servers run on."""
    process = await asyncio.create_subprocess_exec(
        GRPCURL, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


@pytest.fixture
async def target(redis_url: str, token_verifier, feed_env) -> AsyncIterator[str]:
    settings = Settings.from_env({"ESTORE_INVENTORY_REDIS_URL": redis_url, **feed_env})
    definition = await create_service(settings)
    async with running_server(definition, token_verifier) as (server, _):
        yield f"127.0.0.1:{server.port}"


async def test_describe_a_method_shows_its_comment(target: str) -> None:
    code, out = await grpcurl("-plaintext", target, "describe", f"{INVENTORY}.ListProducts")
    assert code == 0, out
    assert "is a method" in out
    assert "// Lists products matching a filter, in the order asked." in out


async def test_describe_a_service_and_a_message_shows_their_comments(target: str) -> None:
    code, out = await grpcurl("-plaintext", target, "describe", INVENTORY)
    assert code == 0, out
    assert "// InventoryService keeps the product catalogue" in out
    assert "// Lists products matching a filter" in out  # and its methods'
    code, out = await grpcurl("-plaintext", target, "describe", "estore.inventory.v1.Product")
    assert code == 0, out
    assert "// A product in the catalogue." in out
    assert "// Units held by live reservations" in out
    assert "int32 reserved = 6 [(.google.api.field_behavior) = OUTPUT_ONLY];" in out


async def test_every_listed_symbol_can_be_described(target: str) -> None:
    code, out = await grpcurl("-plaintext", target, "list")
    assert code == 0, out
    services = out.split()
    assert {INVENTORY, "grpc.health.v1.Health", V1_SERVICE_NAME} <= set(services)
    symbols = list(services)
    for service in services:
        code, out = await grpcurl("-plaintext", target, "list", service)
        assert code == 0, out
        symbols += out.split()
    assert f"{INVENTORY}.WatchInventory" in symbols
    for symbol in symbols:
        code, out = await grpcurl("-plaintext", target, "describe", symbol)
        assert code == 0, out
        assert f"{symbol} is a " in out


async def test_error_details_are_decoded_over_reflection(target: str) -> None:
    code, out = await grpcurl(
        "-plaintext", "-d", '{"product_id": "nope"}', target, f"{INVENTORY}/GetProduct"
    )
    assert code != 0
    assert '"@type":"type.googleapis.com/google.rpc.ErrorInfo"' in out
    assert '"reason":"PRODUCT_NOT_FOUND"' in out
    code, out = await grpcurl(
        "-plaintext", "-d", '{"page_size": -1}', target, f"{INVENTORY}/ListProducts"
    )
    assert '"@type":"type.googleapis.com/google.rpc.BadRequest"' in out
    assert '"field":"page_size"' in out


@pytest.fixture
def protoset(tmp_path: Path) -> Path:
    """As docs/clients.md says for a server without reflection: `buf build -o estore.binpb`."""
    path = tmp_path / "estore.binpb"
    subprocess.run([BUF, "build", "-o", str(path)], cwd=ROOT, check=True, timeout=120)
    return path


async def test_error_details_are_decoded_from_the_shipped_protos_alone(
    target: str, protoset: Path
) -> None:
    # The workspace holds our protos and third_party/'s google/rpc, so the details decode.
    code, out = await grpcurl(
        *("-plaintext", "-protoset", str(protoset)),
        *("-d", '{"product_id": "nope"}', target, f"{INVENTORY}/GetProduct"),
    )
    assert code != 0
    assert '"reason":"PRODUCT_NOT_FOUND"' in out, out
    # grpcurl 1.8's own .proto parser rejects `debug_redact`; a descriptor set carries it fine.
    code, out = await grpcurl("-protoset", str(protoset), "describe", "estore.payments.v1.Card")
    assert code == 0, out
    assert "string cvc = 4" in out


async def test_reflection_v1_serves_the_same_commented_files(target: str) -> None:
    from google.protobuf import descriptor_pb2
    from grpc_reflection.v1alpha import reflection_pb2

    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.stream_stream(
            f"/{V1_SERVICE_NAME}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        request = reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="estore.common.v1.ErrorReason"
        )
        responses = [response async for response in call(iter([request]))]
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in responses[0].file_descriptor_response.file_descriptor_proto
    ]
    assert files[0].name == "estore/common/v1/error_reason.proto"
    assert files[0].source_code_info.location  # the comments travel with it
