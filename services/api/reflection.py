"""Server reflection, so that `grpcurl` and other tools can list and describe the services: as
`grpc.reflection.v1.ServerReflection` and as the older `grpc.reflection.v1alpha.ServerReflection`
that older tools still ask for.

grpcio-reflection serves v1alpha only. v1 is the same protocol under a new package name (every
message and field number unchanged), so one servicer answers both, and v1's file descriptor is
v1alpha's renamed, for tools that resolve the reflection service itself.

The descriptors served carry the proto comments: they come from the descriptor set `make proto`
builds with source info and ships beside the stubs (gen/consentry/v1/descriptors.binpb), served
byte for byte; the runtime's own descriptors (which drop comments) answer only for files not in
that set (health, reflection)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from importlib import resources

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2 as messages
from grpc_reflection.v1alpha import reflection_pb2_grpc

V1ALPHA = messages.DESCRIPTOR.services_by_name["ServerReflection"].full_name
V1 = "grpc.reflection.v1.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
DESCRIPTOR_SET = "descriptors.binpb"


class Catalogue:
    """The files reflection describes: a descriptor pool to resolve names in, and each file's
    serialized FileDescriptorProto as served (with comments where the shipped set has them)."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self.serialized: dict[str, bytes] = {}
        for proto in files:  # each file after its dependencies
            self.pool.Add(proto)
            self.serialized[proto.name] = proto.SerializeToString()

    @classmethod
    def load(cls) -> Catalogue:
        shipped = descriptor_pb2.FileDescriptorSet.FromString(
            resources.files("consentry.v1").joinpath(DESCRIPTOR_SET).read_bytes())
        return cls([*shipped.file, _proto(health_pb2.DESCRIPTOR), _proto(messages.DESCRIPTOR), _v1_file()])

    def file_response(self, descriptor: FileDescriptor, request: messages.ServerReflectionRequest
                      ) -> messages.ServerReflectionResponse:
        """The file and every file it depends on, as clients expect them in one answer."""
        files: dict[str, FileDescriptor] = {}
        pending = [descriptor]
        while pending:
            file = pending.pop()
            if file.name not in files:
                files[file.name] = file
                pending.extend(file.dependencies)
        return messages.ServerReflectionResponse(
            original_request=request,
            file_descriptor_response=messages.FileDescriptorResponse(
                file_descriptor_proto=[self.serialized[name] for name in files]))


class ReflectionServicer(reflection_pb2_grpc.ServerReflectionServicer):
    """Answers reflection requests about `service_names` from `catalogue`."""

    def __init__(self, service_names: Sequence[str], catalogue: Catalogue) -> None:
        self.service_names = sorted(service_names)
        self.catalogue = catalogue

    def ServerReflectionInfo(self, request_iterator: Iterator[messages.ServerReflectionRequest],
                             context: grpc.ServicerContext) -> Iterator[messages.ServerReflectionResponse]:
        for request in request_iterator:
            yield self._answer(request)

    def _answer(self, request: messages.ServerReflectionRequest) -> messages.ServerReflectionResponse:
        pool = self.catalogue.pool
        asked = request.WhichOneof("message_request")
        try:
            if asked == "list_services":
                return messages.ServerReflectionResponse(
                    original_request=request, list_services_response=messages.ListServiceResponse(
                        service=[messages.ServiceResponse(name=name) for name in self.service_names]))
            if asked == "file_by_filename":
                return self.catalogue.file_response(pool.FindFileByName(request.file_by_filename), request)
            if asked == "file_containing_symbol":
                return self.catalogue.file_response(
                    pool.FindFileContainingSymbol(request.file_containing_symbol), request)
            if asked == "file_containing_extension":
                wanted = request.file_containing_extension
                extension = pool.FindExtensionByNumber(pool.FindMessageTypeByName(wanted.containing_type),
                                                       wanted.extension_number)
                return self.catalogue.file_response(pool.FindFileContainingSymbol(extension.full_name), request)
            if asked == "all_extension_numbers_of_type":
                message = pool.FindMessageTypeByName(request.all_extension_numbers_of_type)
                return messages.ServerReflectionResponse(
                    original_request=request, all_extension_numbers_response=messages.ExtensionNumberResponse(
                        base_type_name=message.full_name,
                        extension_number=sorted(e.number for e in pool.FindAllExtensions(message))))
        except KeyError:
            return _error(request, grpc.StatusCode.NOT_FOUND)
        return _error(request, grpc.StatusCode.INVALID_ARGUMENT)


def enable(server: grpc.Server, service_names: Sequence[str]) -> None:
    """Serves reflection over `service_names` and both reflection services on `server`."""
    servicer = ReflectionServicer([*service_names, V1ALPHA, V1], Catalogue.load())
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(V1, {
        "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=messages.ServerReflectionRequest.FromString,
            response_serializer=messages.ServerReflectionResponse.SerializeToString)})])


def _error(request: messages.ServerReflectionRequest, code: grpc.StatusCode) -> messages.ServerReflectionResponse:
    number, text = code.value
    return messages.ServerReflectionResponse(
        original_request=request, error_response=messages.ErrorResponse(error_code=number, error_message=text))


def _proto(descriptor: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    descriptor.CopyToProto(proto)
    return proto


def _v1_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto: v1alpha's file under v1's name, package and options."""
    proto = _proto(messages.DESCRIPTOR)
    old, new = f".{proto.package}.", ".grpc.reflection.v1."
    proto.name, proto.package = V1_FILE, "grpc.reflection.v1"
    proto.options.Clear()
    proto.options.java_package, proto.options.java_outer_classname = "io.grpc.reflection.v1", "ServerReflectionProto"
    proto.options.java_multiple_files = True
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # a scalar field has none, and must not get an empty one
                field.type_name = field.type_name.replace(old, new)
    for method in proto.service[0].method:
        method.input_type = method.input_type.replace(old, new)
        method.output_type = method.output_type.replace(old, new)
    return proto
