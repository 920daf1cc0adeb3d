"""Server reflection on a real loopback server (services/api/reflection.py), through the gRPC
reflection stubs as `grpcurl` uses them: both `grpc.reflection.v1` and `grpc.reflection.v1alpha`
list Consentry's services, resolve a service to its file and the files it depends on, carrying
the proto comments, and answer NOT_FOUND for a name no file defines; no token is needed. The
descriptor set served matches the stubs (`make proto-check` keeps both from proto/)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from consentry.services.api.server import SERVICE_NAMES

# No v1 stub ships with grpcio-reflection; v1 is v1alpha's protocol under a new package (the test
# checks the v1 file the server describes says so), so v1alpha's messages make the v1 call.
V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def ask(channel: grpc.Channel, version: str, *requests: reflection_pb2.ServerReflectionRequest):
    if version == "v1alpha":
        call = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo
    else:
        call = channel.stream_stream(
            V1_METHOD, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
    return list(call(iter(requests), timeout=10))


def files(response: reflection_pb2.ServerReflectionResponse) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    protos = map(descriptor_pb2.FileDescriptorProto.FromString, response.file_descriptor_response.file_descriptor_proto)
    return {p.name: p for p in protos}


def comment(file: descriptor_pb2.FileDescriptorProto, service: str) -> str:
    """The leading comment of `service` in `file` (path [6, index]: service_type[index])."""
    index = [s.name for s in file.service].index(service)
    [location] = [loc for loc in file.source_code_info.location if list(loc.path) == [6, index]]
    return location.leading_comments


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection_lists_the_services_and_describes_them_with_their_comments(harness, version):
    with grpc.insecure_channel(harness.target) as channel:
        listed, by_symbol, by_name, missing, extensions = ask(
            channel, version,
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="consentry.v1.ExchangeService"),
            reflection_pb2.ServerReflectionRequest(file_by_filename="consentry/v1/consent.proto"),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol="consentry.v1.NoSuchThing"),
            reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="consentry.v1.ConsentChange"))
    names = {s.name for s in listed.list_services_response.service}
    assert {*SERVICE_NAMES, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection"} == names
    exchange = files(by_symbol)
    assert set(exchange) == {"consentry/v1/exchange.proto", "google/protobuf/timestamp.proto"}
    assert comment(exchange["consentry/v1/exchange.proto"], "ExchangeService").startswith(
        " ExchangeService moves records")
    # The file and everything it imports, so a client can build the types from one answer.
    consent = files(by_name)
    assert set(consent) == {"consentry/v1/consent.proto", "consentry/v1/common.proto",
                            "google/protobuf/timestamp.proto"}
    assert comment(consent["consentry/v1/consent.proto"], "ConsentService").strip()
    assert missing.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert extensions.all_extension_numbers_response.base_type_name == "consentry.v1.ConsentChange"
    assert not extensions.all_extension_numbers_response.extension_number


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_the_v1_reflection_service_is_v1alphas_protocol_under_its_own_package(harness, version):
    with grpc.insecure_channel(harness.target) as channel:
        [v1], [alpha] = (ask(channel, version, reflection_pb2.ServerReflectionRequest(file_containing_symbol=name))
                         for name in ("grpc.reflection.v1.ServerReflection",
                                      "grpc.reflection.v1alpha.ServerReflection"))
    [v1_file], [alpha_file] = files(v1).values(), files(alpha).values()
    assert (v1_file.name, v1_file.package) == ("grpc/reflection/v1/reflection.proto", "grpc.reflection.v1")
    [method] = v1_file.service[0].method
    assert (method.input_type, method.output_type) == (".grpc.reflection.v1.ServerReflectionRequest",
                                                       ".grpc.reflection.v1.ServerReflectionResponse")

    def fields(file):
        return {(m.name, f.name, f.number, f.type, f.type_name.rsplit(".", 1)[-1]) for m in file.message_type
                for f in m.field}

    assert fields(v1_file) == fields(alpha_file)


def test_the_shipped_descriptor_set_is_the_stubs_with_their_comments():
    """A proto changed without `make proto` would be described one way and served another."""
    import importlib

    from consentry.services.api.reflection import Catalogue

    catalogue = Catalogue.load()
    for name in ("audit", "common", "consent", "exchange", "registry", "rights"):
        shipped = descriptor_pb2.FileDescriptorProto.FromString(catalogue.serialized[f"consentry/v1/{name}.proto"])
        assert shipped.source_code_info.location
        shipped.ClearField("source_code_info")
        _without_json_names(shipped.message_type)  # protoc fills them in for a descriptor set only
        stub = importlib.import_module(f"consentry.v1.{name}_pb2")
        assert shipped == descriptor_pb2.FileDescriptorProto.FromString(stub.DESCRIPTOR.serialized_pb), name


def _without_json_names(messages) -> None:
    for message in messages:
        for field in message.field:
            field.ClearField("json_name")
        _without_json_names(message.nested_type)
