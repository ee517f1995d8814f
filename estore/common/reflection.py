"""Server reflection (v1 and v1alpha) that serves our protos with their comments.

grpcio-reflection answers from the process's descriptor pool, whose files carry no source info,
so grpcurl showed no comments, and it cannot find a method by name ("Symbol not found"). This
servicer answers from the FileDescriptorSet that scripts/gen_protos.py writes beside the
generated code (with source info, every import, and google/rpc's error details), and indexes
every symbol a file defines: messages, fields, enums and their values, services and methods.
Files that are not ours (health, reflection itself) come from the process's pool.

grpcio-reflection only ships v1alpha, which grpcurl 1.8 uses; newer clients ask for v1. The two
protocols are the same messages under another package, so one servicer serves both, and v1's
descriptor is registered (a renamed copy of v1alpha's) so that v1 can describe itself too.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable
from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
_V1_FILE = "grpc/reflection/v1/reflection.proto"
DESCRIPTOR_SET = "estore_descriptors.binpb"

FileProto = descriptor_pb2.FileDescriptorProto


class DescriptorIndex:
    """File descriptors by file name, by every symbol they define, and by extension number."""

    def __init__(self, files: Iterable[FileProto]) -> None:
        self._files: dict[str, FileProto] = {}
        self._serialized: dict[str, bytes] = {}
        self._symbols: dict[str, str] = {}
        self._extensions: dict[tuple[str, int], str] = {}
        for file in files:
            self.add(file)

    def add(self, file: FileProto) -> None:
        """Index `file`; a file already indexed under its name is kept."""
        if file.name in self._files:
            return
        self._files[file.name] = file
        self._serialized[file.name] = file.SerializeToString(deterministic=True)
        prefix = f"{file.package}." if file.package else ""
        for message in file.message_type:
            self._index_message(file.name, prefix, message)
        for enum in file.enum_type:
            self._index_enum(file.name, prefix, enum)
        for extension in file.extension:
            self._index_extension(file.name, prefix, extension)
        for service in file.service:
            self._symbols[prefix + service.name] = file.name
            for method in service.method:
                self._symbols[f"{prefix}{service.name}.{method.name}"] = file.name

    def _index_message(
        self, file: str, scope: str, message: descriptor_pb2.DescriptorProto
    ) -> None:
        name = scope + message.name
        self._symbols[name] = file
        for field in message.field:
            self._symbols[f"{name}.{field.name}"] = file
        for oneof in message.oneof_decl:
            self._symbols[f"{name}.{oneof.name}"] = file
        for nested in message.nested_type:
            self._index_message(file, f"{name}.", nested)
        for enum in message.enum_type:
            self._index_enum(file, f"{name}.", enum)
        for extension in message.extension:
            self._index_extension(file, f"{name}.", extension)

    def _index_enum(self, file: str, scope: str, enum: descriptor_pb2.EnumDescriptorProto) -> None:
        self._symbols[scope + enum.name] = file
        for value in enum.value:  # enum values are siblings of their enum, as in C++
            self._symbols[scope + value.name] = file

    def _index_extension(
        self, file: str, scope: str, extension: descriptor_pb2.FieldDescriptorProto
    ) -> None:
        self._symbols[scope + extension.name] = file
        self._extensions[(extension.extendee.lstrip("."), extension.number)] = file

    def file_of_symbol(self, symbol: str) -> str | None:
        """The name of the file that defines `symbol`, if any."""
        return self._symbols.get(symbol.lstrip("."))

    def file_of_extension(self, extendee: str, number: int) -> str | None:
        """The name of the file that defines extension `number` of `extendee`, if any."""
        return self._extensions.get((extendee.lstrip("."), number))

    def extension_numbers(self, extendee: str) -> list[int]:
        """Every extension number of `extendee` that some indexed file defines."""
        wanted = extendee.lstrip(".")
        return sorted(number for (name, number) in self._extensions if name == wanted)

    def with_dependencies(self, name: str, already_sent: set[str]) -> list[bytes]:
        """`name` and its transitive imports, serialized, minus those in `already_sent`."""
        found: list[bytes] = []
        pending = [name]
        while pending:
            current = pending.pop()
            if current in already_sent or current not in self._files:
                continue
            already_sent.add(current)
            found.append(self._serialized[current])
            pending.extend(self._files[current].dependency)
        return found

    def has_file(self, name: str) -> bool:
        """Whether a file of this name is indexed."""
        return name in self._files


@functools.cache
def _estore_files() -> tuple[FileProto, ...]:
    """Our protos with comments, as scripts/gen_protos.py wrote them; read once."""
    data = resources.files("generated").joinpath(DESCRIPTOR_SET).read_bytes()
    return tuple(descriptor_pb2.FileDescriptorSet.FromString(data).file)


def _add_from_pool(index: DescriptorIndex, symbol: str) -> None:
    """Index the file of `symbol` from the process's pool, with its imports (no comments there)."""
    pool = descriptor_pool.Default()
    try:
        pending = [pool.FindFileContainingSymbol(symbol)]
    except KeyError:  # not loaded in this process: reflection answers NOT_FOUND for it
        return
    while pending:
        file = pending.pop()
        if not index.has_file(file.name):
            proto = FileProto()
            file.CopyToProto(proto)
            index.add(proto)
            pending.extend(file.dependencies)


def build_index(service_names: Iterable[str]) -> DescriptorIndex:
    """Our files first; then, from the pool, the files of the listed services that are not ours."""
    index = DescriptorIndex(_estore_files())
    for name in service_names:
        if index.file_of_symbol(name) is None:
            _add_from_pool(index, name)
    return index


class ReflectionServicer:
    """grpc.reflection.v1(alpha).ServerReflection over a DescriptorIndex."""

    def __init__(self, index: DescriptorIndex, service_names: Iterable[str]) -> None:
        self._index = index
        self._services = [reflection_pb2.ServiceResponse(name=n) for n in service_names]

    async def ServerReflectionInfo(  # noqa: N802 - the gRPC method name
        self, requests: AsyncIterator[reflection_pb2.ServerReflectionRequest], _: Any
    ) -> AsyncIterator[reflection_pb2.ServerReflectionResponse]:
        """Answer each request of the stream in turn; a file goes to one stream only once."""
        sent: set[str] = set()
        async for request in requests:
            yield self._answer(request, sent)

    def _answer(
        self, request: reflection_pb2.ServerReflectionRequest, sent: set[str]
    ) -> reflection_pb2.ServerReflectionResponse:
        response = reflection_pb2.ServerReflectionResponse(
            valid_host=request.host, original_request=request
        )
        kind = request.WhichOneof("message_request")
        file: str | None = None
        if kind == "list_services":
            response.list_services_response.service.extend(self._services)
            return response
        if kind == "all_extension_numbers_of_type":
            extendee = request.all_extension_numbers_of_type
            response.all_extension_numbers_response.base_type_name = extendee
            response.all_extension_numbers_response.extension_number.extend(
                self._index.extension_numbers(extendee)
            )
            return response
        if kind == "file_by_filename" and self._index.has_file(request.file_by_filename):
            file = request.file_by_filename
        elif kind == "file_containing_symbol":
            file = self._index.file_of_symbol(request.file_containing_symbol)
        elif kind == "file_containing_extension":
            wanted = request.file_containing_extension
            file = self._index.file_of_extension(wanted.containing_type, wanted.extension_number)
        if file is None:
            response.error_response.error_code = grpc.StatusCode.NOT_FOUND.value[0]
            response.error_response.error_message = "not found"
            return response
        # The file asked for is always sent (as grpc-go does); its imports only once per stream.
        sent.discard(file)
        files = self._index.with_dependencies(file, sent)
        response.file_descriptor_response.file_descriptor_proto.extend(files)
        return response


def _register_v1_descriptor(pool: descriptor_pool.DescriptorPool) -> None:
    try:
        pool.FindFileByName(_V1_FILE)
        return
    except KeyError:
        pass
    file_proto = FileProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file_proto)
    file_proto.name = _V1_FILE
    file_proto.package = "grpc.reflection.v1"
    for message in file_proto.message_type:
        for field in message.field:
            if field.type_name:
                field.type_name = field.type_name.replace(".v1alpha.", ".v1.")
    for service in file_proto.service:
        for method in service.method:
            method.input_type = method.input_type.replace(".v1alpha.", ".v1.")
            method.output_type = method.output_type.replace(".v1alpha.", ".v1.")
    pool.Add(file_proto)


def enable_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection (v1 and v1alpha) listing `service_names` and both reflection services."""
    _register_v1_descriptor(descriptor_pool.Default())
    names = [*service_names, reflection.SERVICE_NAME, V1_SERVICE_NAME]
    servicer = ReflectionServicer(build_index(names), names)
    handlers = {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
    }
    for service_name in (reflection.SERVICE_NAME, V1_SERVICE_NAME):
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, handlers),)
        )
