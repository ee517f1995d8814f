"""UserService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from typing import Any

from estore.common.context import current_caller
from estore.common.proto import timestamp
from estore.users.models import User, UserFilter, UserQuery, UserUpdate
from estore.users.service import UserService
from generated.estore.users.v1 import user_service_pb2 as users_pb
from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc

Ctx = Any  # grpc.aio.ServicerContext; grpcio ships no types


def _to_proto(user: User) -> users_pb.User:
    message = users_pb.User(
        id=user.id,
        email=user.email,
        is_active=user.is_active,
        is_verified=user.is_verified,
        is_admin=user.is_admin,
        created_at=timestamp(user.created_at),
    )
    if user.updated_at is not None:
        message.updated_at.CopyFrom(timestamp(user.updated_at))
    return message


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
        return users_pb.LoginResponse(
            access_token=signed_in.access_token,
            expires_at=timestamp(signed_in.expires_at),
            user=_to_proto(signed_in.user),
        )

    async def GetCurrentUser(
        self, request: users_pb.GetCurrentUserRequest, ctx: Ctx
    ) -> users_pb.GetCurrentUserResponse:
        user = await self._service.current_user(current_caller())
        return users_pb.GetCurrentUserResponse(user=_to_proto(user))

    async def GetUser(self, request: users_pb.GetUserRequest, ctx: Ctx) -> users_pb.GetUserResponse:
        user = await self._service.get_user(current_caller(), request.user_id)
        return users_pb.GetUserResponse(user=_to_proto(user))

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
