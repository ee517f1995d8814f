"""UserService transport: protobuf in, service call, protobuf out."""

from __future__ import annotations

from generated.estore.users.v1 import user_service_pb2_grpc as users_grpc


class UserServicer(users_grpc.UserServiceServicer):
    """Every RPC answers UNIMPLEMENTED until it is built."""
