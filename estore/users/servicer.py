"""UserService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from estore.common.context import current_caller
from estore.common.proto import set_timestamp, timestamp
from estore.common.revocations import Revocation
from estore.users.models import SignIn, User, UserFilter, UserQuery, UserUpdate
from estore.users.service import UserService
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

Ctx = Any  # grpc.aio.ServicerContext; grpcio ships no types


def _to_proto(user: User, message: users_pb.User | None = None) -> users_pb.User:
    """`user` as a protobuf User, filled into `message` when given.

    A response's own `user` field filled in place costs half what a User built apart and then
    copied into the response does (GetCurrentUser answers with one on every call).
    """
    if message is None:
        message = users_pb.User()
    message.id = user.id
    message.email = user.email
    message.is_active = user.is_active
    message.is_verified = user.is_verified
    message.is_admin = user.is_admin
    set_timestamp(message.created_at, user.created_at)
    if user.updated_at is not None:
        set_timestamp(message.updated_at, user.updated_at)
    return message


def _tokens(signed_in: SignIn) -> dict[str, Any]:
    """The token fields LoginResponse and RefreshTokenResponse share."""
    fields: dict[str, Any] = {
        "access_token": signed_in.access_token,
        "expires_at": timestamp(signed_in.expires_at),
        "refresh_token": signed_in.refresh_token,
        "user": _to_proto(signed_in.user),
    }
    if signed_in.refresh_expires_at is not None:
        fields["refresh_token_expires_at"] = timestamp(signed_in.refresh_expires_at)
    return fields


def _revocation_to_proto(revocation: Revocation) -> users_pb.Revocation:
    return users_pb.Revocation(
        id=revocation.id,
        user_id=revocation.user_id,
        below_generation=revocation.below_generation,
        session_id=revocation.session_id,
        expires_at=timestamp(datetime.fromtimestamp(revocation.expires_at, UTC)),
    )


def _query_from_proto(request: users_pb.ListUsersRequest) -> UserQuery:
    given = request.filter
    user_filter = UserFilter(
        is_active=given.is_active if given.HasField("is_active") else None,
        is_verified=given.is_verified if given.HasField("is_verified") else None,
        is_admin=given.is_admin if given.HasField("is_admin") else None,
        email_prefix=given.email_prefix,
    )
    return UserQuery(user_filter, request.page_size, request.page_token)


def _update_from_proto(request: users_pb.UpdateUserRequest) -> UserUpdate:
    return UserUpdate(
        user_id=request.user.id,
        paths=tuple(request.update_mask.paths),
        is_active=request.user.is_active,
        is_admin=request.user.is_admin,
    )


class UserServicer(users_grpc.UserServiceServicer):
    """Each RPC converts its request, calls UserService, and converts the answer."""

    def __init__(self, service: UserService) -> None:
        self._service = service

    async def Register(
        self, request: users_pb.RegisterRequest, ctx: Ctx
    ) -> users_pb.RegisterResponse:
        user = await self._service.register(request.email, request.password)
        return users_pb.RegisterResponse(user=_to_proto(user))

    async def VerifyEmail(
        self, request: users_pb.VerifyEmailRequest, ctx: Ctx
    ) -> users_pb.VerifyEmailResponse:
        user = await self._service.verify_email(request.token)
        return users_pb.VerifyEmailResponse(user=_to_proto(user))

    async def ResendVerification(
        self, request: users_pb.ResendVerificationRequest, ctx: Ctx
    ) -> users_pb.ResendVerificationResponse:
        await self._service.resend_verification(request.email)
        return users_pb.ResendVerificationResponse()

    async def Login(self, request: users_pb.LoginRequest, ctx: Ctx) -> users_pb.LoginResponse:
        signed_in = await self._service.login(request.email, request.password)
        return users_pb.LoginResponse(**_tokens(signed_in))

    async def RefreshToken(
        self, request: users_pb.RefreshTokenRequest, ctx: Ctx
    ) -> users_pb.RefreshTokenResponse:
        signed_in = await self._service.sessions.refresh(request.refresh_token)
        return users_pb.RefreshTokenResponse(**_tokens(signed_in))

    async def Logout(self, request: users_pb.LogoutRequest, ctx: Ctx) -> users_pb.LogoutResponse:
        await self._service.sessions.logout(request.refresh_token)
        return users_pb.LogoutResponse()

    async def ListRevocations(
        self, request: users_pb.ListRevocationsRequest, ctx: Ctx
    ) -> users_pb.ListRevocationsResponse:
        found = await self._service.sessions.list_revocations(
            current_caller(), request.after_id, request.page_size
        )
        return users_pb.ListRevocationsResponse(
            revocations=[_revocation_to_proto(revocation) for revocation in found]
        )

    async def GetCurrentUser(
        self, request: users_pb.GetCurrentUserRequest, ctx: Ctx
    ) -> users_pb.GetCurrentUserResponse:
        user = await self._service.current_user(current_caller())
        response = users_pb.GetCurrentUserResponse()
        _to_proto(user, response.user)
        return response

    async def GetUser(self, request: users_pb.GetUserRequest, ctx: Ctx) -> users_pb.GetUserResponse:
        user = await self._service.get_user(current_caller(), request.user_id)
        response = users_pb.GetUserResponse()
        _to_proto(user, response.user)
        return response

    async def ListUsers(
        self, request: users_pb.ListUsersRequest, ctx: Ctx
    ) -> users_pb.ListUsersResponse:
        page = await self._service.list_users(current_caller(), _query_from_proto(request))
        return users_pb.ListUsersResponse(
            users=[_to_proto(user) for user in page.users], next_page_token=page.next_page_token
        )

    async def UpdateUser(
        self, request: users_pb.UpdateUserRequest, ctx: Ctx
    ) -> users_pb.UpdateUserResponse:
        user = await self._service.update_user(current_caller(), _update_from_proto(request))
        return users_pb.UpdateUserResponse(user=_to_proto(user))

    async def ChangePassword(
        self, request: users_pb.ChangePasswordRequest, ctx: Ctx
    ) -> users_pb.ChangePasswordResponse:
        await self._service.change_password(
            current_caller(), request.current_password, request.new_password
        )
        return users_pb.ChangePasswordResponse()

    async def RequestPasswordReset(
        self, request: users_pb.RequestPasswordResetRequest, ctx: Ctx
    ) -> users_pb.RequestPasswordResetResponse:
        await self._service.request_password_reset(request.email)
        return users_pb.RequestPasswordResetResponse()

    async def ResetPassword(
        self, request: users_pb.ResetPasswordRequest, ctx: Ctx
    ) -> users_pb.ResetPasswordResponse:
        await self._service.reset_password(request.token, request.new_password)
        return users_pb.ResetPasswordResponse()
