"""Bearer tokens: only EdDSA tokens signed by our key, unexpired, for our issuer and audience."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.utils import base64url_encode

from estore.common.auth import TokenIssuer, TokenVerifier
from estore.common.server import ServiceDefinition
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc
from tests.conftest import AUDIENCE, ISSUER
from tests.grpc.test_errors import RaisingServicer
from tests.helpers import bearer, error_details, running_server


@pytest.fixture
async def stub(token_verifier: TokenVerifier):
    servicer = RaisingServicer()
    definition = ServiceDefinition(
        name="users",
        full_name="estore.users.v1.UserService",
        register=lambda server: users_grpc.add_UserServiceServicer_to_server(servicer, server),
    )
    async with running_server(definition, token_verifier) as (_, channel):
        yield users_grpc.UserServiceStub(channel)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"sub": "7", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


async def _reason_for(stub, token: str) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUser(users_pb.GetUserRequest(user_id=7), metadata=bearer(token))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    return error_details(caught.value).reason


async def test_a_good_token_is_accepted(stub, token_issuer: TokenIssuer) -> None:
    token = token_issuer.issue_access_token(7, is_admin=True, is_verified=True, ttl_seconds=60)
    reply = await stub.GetUser(users_pb.GetUserRequest(user_id=7), metadata=bearer(token.token))
    assert reply.user.id == 7
    assert reply.user.is_admin


def _hand_made_token(alg: str, claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWT built by hand, as an attacker would, bypassing any library's safety checks."""
    header = base64url_encode(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = base64url_encode(json.dumps(claims).encode())
    signing_input = header + b"." + payload
    signature = b""
    if hmac_key is not None:
        signature = base64url_encode(hmac.new(hmac_key, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


async def test_alg_none_is_refused(stub) -> None:
    token = _hand_made_token("none", _claims(admin=True), None)
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_hs256_signed_with_the_public_key_is_refused(stub, signing_key) -> None:
    # The classic key-confusion attack: HMAC with the (public) verification key as the secret.
    token = _hand_made_token("HS256", _claims(admin=True), _public_pem(signing_key))
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_expired_token_is_refused(stub, signing_key) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now - 120, exp=now - 60), signing_key, algorithm="EdDSA")
    assert await _reason_for(stub, token) == "AUTH_TOKEN_EXPIRED"


async def test_wrong_audience_is_refused(stub, signing_key) -> None:
    token = jwt.encode(_claims(aud="someone-else"), signing_key, algorithm="EdDSA")
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_wrong_issuer_is_refused(stub, signing_key) -> None:
    token = jwt.encode(_claims(iss="evil"), signing_key, algorithm="EdDSA")
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_token_from_another_key_is_refused(stub) -> None:
    token = jwt.encode(_claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA")
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_token_without_exp_is_refused(stub, signing_key) -> None:
    token = jwt.encode(_claims(exp=None), signing_key, algorithm="EdDSA")
    assert await _reason_for(stub, token) == "AUTH_TOKEN_INVALID"


async def test_garbage_and_wrong_scheme_are_refused(stub) -> None:
    assert await _reason_for(stub, "not-a-jwt") == "AUTH_TOKEN_INVALID"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUser(
            users_pb.GetUserRequest(user_id=7), metadata=(("authorization", "Basic YWI6Y2Q="),)
        )
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_no_token_where_one_is_needed(stub) -> None:
    assert await _reason_for(stub, "") in {"AUTH_TOKEN_INVALID", "AUTH_TOKEN_MISSING"}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUser(users_pb.GetUserRequest(user_id=7))
    assert error_details(caught.value).reason == "AUTH_TOKEN_MISSING"


def test_service_token_has_the_service_role(token_issuer, token_verifier) -> None:
    caller = token_verifier.verify(
        token_issuer.mint_service_token("payments", ttl_seconds=60).token
    )
    assert caller.is_service
    assert caller.user_id is None
    caller.require_service()


async def test_a_sent_token_is_checked_even_where_none_is_needed(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListUsers(users_pb.ListUsersRequest(), metadata=bearer("forged.token.here"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_service_token_is_not_a_user(stub, token_issuer: TokenIssuer) -> None:
    token = token_issuer.mint_service_token("payments", ttl_seconds=60).token
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetUser(users_pb.GetUserRequest(user_id=7), metadata=bearer(token))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_little_clock_skew_is_tolerated(stub, signing_key) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now + 10, exp=now + 70), signing_key, algorithm="EdDSA")
    reply = await stub.GetUser(users_pb.GetUserRequest(user_id=7), metadata=bearer(token))
    assert reply.user.id == 7
