"""One server interceptor: request id, caller, error mapping and the access log line."""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.message import DecodeError

from estore.common import context
from estore.common.auth import TokenVerifier
from estore.common.breaker import StoreBreaker
from estore.common.errors import FieldViolation, InvalidArgument
from estore.common.logs_access import AccessLine
from estore.common.metrics import Metrics
from estore.common.status import as_domain_error, build_status, status_code_of, to_rpc_status

log = logging.getLogger("estore.rpc")
_access_line = AccessLine(log)

REQUEST_ID_HEADER = "x-request-id"
_MAX_REQUEST_ID = 128

Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Any]
Decoder = Callable[[bytes], Any] | None


def _metadata(ctx: grpc.aio.ServicerContext[Any, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in ctx.invocation_metadata() or ():
        if isinstance(value, str):
            values.setdefault(key.lower(), value)
    return values


class ServerInterceptor:
    """Wraps the RPCs of our own services (`/estore.*`); health and reflection pass through.

    Each method's wrapped handler is built once, when the service registers its handlers
    (`Registrar`), not on every call: grpc then dispatches straight to it.
    """

    def __init__(
        self, service: str, verifier: TokenVerifier, metrics: Metrics, breaker: StoreBreaker
    ) -> None:
        self._service = service
        self._domain = f"estore.{service}"
        self._verifier = verifier
        self._metrics = metrics
        self._breaker = breaker
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """The handler of `method` ("/pkg.Service/Rpc") with ours around it (built once)."""
        if handler is None or not method.startswith("/estore."):
            return handler
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrapped[method] = self._build(method, handler)
        return wrapped

    def _build(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        # Requests are decoded inside the wrapper, so that undecodable bytes become
        # INVALID_ARGUMENT with an ErrorInfo instead of grpc's bare UNKNOWN.
        decode = _Decoder(handler.request_deserializer, method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, decode),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, decode),
                response_serializer=handler.response_serializer,
            )
        return handler

    def _begin(self, ctx: grpc.aio.ServicerContext[Any, Any]) -> None:
        metadata = _metadata(ctx)
        # 128 random bits as 32 hex digits, as uuid4().hex gave. An id only tells calls apart in
        # logs, so the random module's generator (seeded from the OS, re-seeded in a forked
        # worker) does: secrets.token_hex made a getrandom system call on every call.
        request_id = (
            metadata.get(REQUEST_ID_HEADER, "")[:_MAX_REQUEST_ID]
            or f"{random.getrandbits(128):032x}"
        )
        context.request_id.set(request_id)
        context.service.set(self._service)
        remaining = ctx.time_remaining()
        context.deadline.set(None if remaining is None else time.monotonic() + remaining)
        # A token is checked whenever one is sent, even to RPCs that need none.
        context.set_caller(self._verifier.caller_from_authorization(metadata.get("authorization")))
        # The id goes back in the trailers, not the headers: once a client has seen headers the
        # call is committed, and its channel's retry policy could no longer retry UNAVAILABLE.
        ctx.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        # While the store is down, answer at once rather than queue on a pool that cannot serve.
        self._breaker.check()

    async def _fail(
        self, ctx: grpc.aio.ServicerContext[Any, Any], error: BaseException, method: str
    ) -> grpc.StatusCode:
        self._breaker.observe(error)
        domain_error = as_domain_error(error) if isinstance(error, Exception) else None
        if domain_error is not None:
            status = to_rpc_status(domain_error, self._domain)
        elif isinstance(error, NotImplementedError):
            status = build_status(
                grpc.StatusCode.UNIMPLEMENTED,
                f"{method} is not implemented yet",
                "NOT_IMPLEMENTED",
                self._domain,
            )
        else:
            log.exception("unexpected error in %s", method, extra={"method": method})
            status = build_status(
                grpc.StatusCode.INTERNAL,
                f"internal error; quote request id {context.request_id.get()}",
                "INTERNAL_ERROR",
                self._domain,
            )
        trailers = (*status.trailing_metadata, (REQUEST_ID_HEADER, context.request_id.get()))
        await ctx.abort(status.code, status.details, trailers)
        raise AssertionError("abort returned")  # pragma: no cover - abort always raises

    def _finish(
        self, method: str, ctx: grpc.aio.ServicerContext[Any, Any], started: float, code: Any
    ) -> None:
        if code is None:
            code = ctx.code() or grpc.StatusCode.OK
        name = code.name if isinstance(code, grpc.StatusCode) else str(code)
        seconds = time.perf_counter() - started
        self._metrics.observe_rpc(method, name, seconds)
        _access_line.log(
            self._service, method, name, round(seconds * 1000, 3), context.request_id.get()
        )

    def _wrap_unary(self, inner: Handler, method: str, decode: _Decoder) -> Handler:
        async def behavior(raw: bytes, ctx: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            code: grpc.StatusCode | None = None
            try:
                self._begin(ctx)
                result = inner(decode(raw), ctx)
                if inspect.isawaitable(result):
                    result = await result
                code = grpc.StatusCode.OK
                return result
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code = _code_of(error)
                await self._fail(ctx, error, method)
            finally:
                self._finish(method, ctx, started, code)

        return behavior

    def _wrap_stream(self, inner: Handler, method: str, decode: _Decoder) -> Handler:
        async def behavior(
            raw: bytes, ctx: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started = time.perf_counter()
            code: grpc.StatusCode | None = None
            try:
                self._begin(ctx)
                async for item in inner(decode(raw), ctx):
                    yield item
                code = grpc.StatusCode.OK
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                code = _code_of(error)
                await self._fail(ctx, error, method)
            finally:
                self._finish(method, ctx, started, code)

        return behavior


class _Decoder:
    """Decodes one method's requests; bytes that are not its request message: INVALID_ARGUMENT."""

    def __init__(self, decode: Decoder, method: str) -> None:
        self._decode = decode
        self._violation = FieldViolation(
            _request_type(method), "not a valid protobuf encoding of this request message"
        )

    def __call__(self, raw: bytes) -> Any:
        if self._decode is None:
            return raw
        try:
            return self._decode(raw)
        except DecodeError:
            raise InvalidArgument(
                "the request is not a valid protobuf message for this method",
                violations=[self._violation],
                reason="MALFORMED_REQUEST",
            ) from None


def _request_type(method: str) -> str:
    """The full name of `method`'s request message ("/pkg.Service/Rpc"), or "request"."""
    try:
        found = descriptor_pool.Default().FindMethodByName(method.strip("/").replace("/", "."))
    except KeyError:
        return "request"
    return str(found.input_type.full_name)


def _code_of(error: Exception) -> grpc.StatusCode:
    domain_error = as_domain_error(error)
    if domain_error is not None:
        return status_code_of(domain_error)
    if isinstance(error, NotImplementedError):
        return grpc.StatusCode.UNIMPLEMENTED
    return grpc.StatusCode.INTERNAL


class Registrar:
    """Stands in for the server while a service registers: wraps each handler once."""

    # Generated `add_XServicer_to_server` registers a service twice: as registered methods
    # (grpc's fast path, looked up by name) and as a generic handler (the fallback).

    def __init__(self, server: grpc.aio.Server, interceptor: ServerInterceptor) -> None:
        self._server = server
        self._interceptor = interceptor

    def add_registered_method_handlers(
        self, service_name: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        wrap = self._interceptor.wrap
        wrapped = {name: wrap(f"/{service_name}/{name}", h) for name, h in handlers.items()}
        self._server.add_registered_method_handlers(service_name, wrapped)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(h, self._interceptor) for h in handlers)
        )


class _WrappedGeneric(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler whose methods come out wrapped (each wrapped once, then reused)."""

    def __init__(self, inner: grpc.GenericRpcHandler, interceptor: ServerInterceptor) -> None:
        self._inner = inner
        self._interceptor = interceptor

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(details)
        if handler is None:
            return None
        return self._interceptor.wrap(details.method, handler)
