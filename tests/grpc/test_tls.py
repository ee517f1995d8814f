"""Optional TLS, and mutual TLS: a client without a valid certificate is refused."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from estore.common.auth import TokenVerifier
from estore.common.server import GrpcServer
from estore.common.tls import TlsFiles
from tests.grpc.test_errors import RaisingServicer, _definition
from tests.tls_certs import CertificateAuthority


async def _check(port: int, credentials: grpc.ChannelCredentials) -> int:
    async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        return int(reply.status)


async def _start(tls: TlsFiles, verifier: TokenVerifier) -> GrpcServer:
    server = GrpcServer(
        _definition(RaisingServicer()), verifier, credentials=tls.server_credentials()
    )
    await server.start()
    return server


async def test_server_tls(tmp_path: Path, token_verifier: TokenVerifier) -> None:
    ca = CertificateAuthority(tmp_path)
    leaf = ca.issue("inventory")
    server = await _start(TlsFiles(leaf.cert, leaf.key, None), token_verifier)
    try:
        trusted = grpc.ssl_channel_credentials(root_certificates=ca.cert_file.read_bytes())
        assert await _check(server.port, trusted) == health_pb2.HealthCheckResponse.SERVING
        async with grpc.aio.insecure_channel(f"localhost:{server.port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await health_pb2_grpc.HealthStub(plain).Check(
                    health_pb2.HealthCheckRequest(), timeout=2
                )
    finally:
        await server.stop(grace=0)


async def test_mutual_tls_refuses_clients_without_a_valid_certificate(
    tmp_path: Path, token_verifier: TokenVerifier
) -> None:
    ca = CertificateAuthority(tmp_path)
    server_leaf = ca.issue("inventory")
    server = await _start(TlsFiles(server_leaf.cert, server_leaf.key, ca.cert_file), token_verifier)
    try:
        client = ca.issue("payments")
        credentials = TlsFiles(client.cert, client.key, ca.cert_file).channel_credentials()
        assert credentials is not None
        assert await _check(server.port, credentials) == health_pb2.HealthCheckResponse.SERVING

        no_cert = grpc.ssl_channel_credentials(root_certificates=ca.cert_file.read_bytes())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _check(server.port, no_cert)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        stranger_ca = CertificateAuthority(elsewhere, name="Someone else")
        stranger = stranger_ca.issue("stranger")
        forged = grpc.ssl_channel_credentials(
            root_certificates=ca.cert_file.read_bytes(),
            private_key=stranger.key.read_bytes(),
            certificate_chain=stranger.cert.read_bytes(),
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _check(server.port, forged)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(grace=0)
