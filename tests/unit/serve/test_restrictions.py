"""Triton's restricted API groups: flag parsing, and which endpoint of each front is in which
group (the per-front tables must cover every endpoint of the protocol)."""

from __future__ import annotations

from typing import Any

import pytest

from modelport.errors import ApiRestricted, ConfigError
from modelport.serve.config import ServerConfig
from modelport.serve.grpc.proto import grpc_service_pb2 as pb
from modelport.serve.grpc.restricted import METHOD_GROUPS
from modelport.serve.http.endpoints import OipEndpoints, debug_routes
from modelport.serve.http.restricted import http_group
from modelport.serve.http.settings_routes import settings_routes
from modelport.serve.http.shm_routes import shm_routes
from modelport.serve.restrict import GROUPS, Restriction, Restrictions

FLAG = "--http-restricted-api"


def test_parse_groups_and_keys() -> None:
    """Each group of a spec gets the spec's header; keys are lower-cased; values keep '='."""
    parsed = Restrictions.parse(["inference,metadata:Infer-Key=a=b",
                                 "model-repository:admin-key=secret"], FLAG)
    assert parsed.by_group == {"inference": Restriction("infer-key", "a=b"),
                               "metadata": Restriction("infer-key", "a=b"),
                               "model-repository": Restriction("admin-key", "secret")}


def test_grpc_keys_take_tritons_prefix() -> None:
    """gRPC restrictions expect metadata 'triton-grpc-protocol-<key>'."""
    config = ServerConfig(grpc_restricted_protocol=["health:k=v"])
    assert config.grpc_restrictions.by_group == {
        "health": Restriction("triton-grpc-protocol-k", "v")}


def test_no_restriction_by_default() -> None:
    """Nothing is restricted unless a flag says so."""
    config = ServerConfig()
    assert not config.http_restrictions and not config.grpc_restrictions


@pytest.mark.parametrize(("spec", "message"), [
    ("model-reposit,health:k1=v1", "unknown group 'model-reposit'"),
    ("inference", "expected <groups>:<header>=<value>"),
    ("inference:key", "expected <groups>:<header>=<value>"),
    ("inference:key=", "expected <groups>:<header>=<value>"),
    (":key=value", "expected <groups>:<header>=<value>"),
    ("inference:bad key=value", "expected <groups>:<header>=<value>"),
])
def test_malformed_specs_are_refused(spec: str, message: str) -> None:
    """A spec Triton would refuse is a one-line ConfigError that shows the expected form."""
    with pytest.raises(ConfigError, match=message):
        Restrictions.parse([spec], FLAG)


def test_a_group_in_two_restrictions_is_refused() -> None:
    """Triton's rule: a group may be in one restriction only."""
    with pytest.raises(ConfigError, match="group 'health' is restricted twice"):
        ServerConfig(http_restricted_api=["model-repository,health:k1=v1",
                                          "metadata,health:k2=v2"])


def test_check_needs_the_exact_value() -> None:
    """A missing or different value is refused with Triton's sentence; the right one passes."""
    restrictions = Restrictions.parse(["statistics:k=v"], FLAG)
    restrictions.check("statistics", {"k": "v"}, "This API is restricted")
    restrictions.check("inference", {}, "This API is restricted")  # open group
    restrictions.check(None, {}, "This API is restricted")  # endpoint of no group
    for headers in ({}, {"k": "V"}, {"k": "v "}, {"other": "v"}):
        with pytest.raises(ApiRestricted, match=r"^This API is restricted, expecting header 'k'$"):
            restrictions.check("statistics", headers, "This API is restricted")


def _expected_http_group(pattern: str) -> str:
    """Triton's HTTP handlers and the group each checks (src/http_server.cc)."""
    if pattern.startswith(("/v2/systemsharedmemory", "/v2/cudasharedmemory")):
        return "shared-memory"
    if pattern.startswith("/v2/repository/"):
        return "model-repository"
    exact = {"/v2": "metadata", "/v2/health/live": "health", "/v2/health/ready": "health",
             "/v2/models/stats": "statistics", "/v2/trace/setting": "trace",
             "/v2/models/{model}/trace/setting": "trace", "/v2/logging": "logging"}
    if pattern in exact:
        return exact[pattern]
    for prefix in ("/v2/models/{model}/versions/{version}", "/v2/models/{model}"):
        if pattern.startswith(prefix):
            suffix = pattern.removeprefix(prefix)
            return {"": "metadata", "/ready": "health", "/config": "model-config",
                    "/stats": "statistics", "/infer": "inference"}[suffix]
    raise AssertionError(f"{pattern}: not a Triton endpoint this test knows")


def _protocol_routes() -> list[Any]:
    """Every route the HTTP front serves for the protocol (endpoints are not called here)."""
    none: Any = None
    return [*OipEndpoints(none, none).routes(), *shm_routes(none), *settings_routes(none)]


def test_every_http_endpoint_is_in_tritons_group() -> None:
    """Each protocol route of the HTTP front is in the group Triton's handler checks; a new
    route fails here until it is given a group in serve/http/restricted.py."""
    routes = _protocol_routes()
    assert len(routes) > 30
    for route in routes:
        assert http_group(route.pattern) == _expected_http_group(route.pattern), route.pattern
    assert {http_group(r.pattern) for r in routes} == set(GROUPS)


def test_metrics_and_debug_routes() -> None:
    """/metrics on the HTTP port is statistics; debug routes and unknown paths have no group."""
    none: Any = None
    assert http_group("/metrics") == "statistics"
    for route in debug_routes(none, none, none):
        assert http_group(route.pattern) is None, route.pattern
    assert http_group("/v2/models/{model}/unknown") is None
    assert http_group("/elsewhere") is None
    assert http_group("/openapi.yaml") is None


def test_every_grpc_method_is_in_tritons_group() -> None:
    """Each RPC of GRPCInferenceService (and the health service) has Triton's group."""
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    methods = {f"/inference.GRPCInferenceService/{m.name}" for m in service.methods}
    assert methods | {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"} == set(
        METHOD_GROUPS)
    assert set(METHOD_GROUPS.values()) == set(GROUPS)
    spot = {"ModelInfer": "inference", "ModelStreamInfer": "inference", "ModelReady": "health",
            "ServerMetadata": "metadata", "ModelConfig": "model-config",
            "RepositoryIndex": "model-repository", "CudaSharedMemoryStatus": "shared-memory",
            "ModelStatistics": "statistics", "TraceSetting": "trace", "LogSettings": "logging"}
    for rpc, group in spot.items():
        assert METHOD_GROUPS[f"/inference.GRPCInferenceService/{rpc}"] == group
    assert METHOD_GROUPS["/grpc.health.v1.Health/Check"] == "health"
