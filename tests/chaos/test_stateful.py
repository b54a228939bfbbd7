"""A hypothesis state machine drives one server in explicit mode through interleaved loads
(with config overrides), reloads from config.pbtxt, config changes, version folders coming and
going, unloads and inference over HTTP and gRPC. Every answer must come from a version that is
live by the model's own account, with outputs that prove it; no call may hang."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from support.models import add_model
from tritonclient.utils import InferenceServerException

MODEL = "m"
ALWAYS = (1, 2, 3)  # version folders that stay; version 4 comes and goes
TIMEOUT_S = 20.0

Policy = dict[str, Any]
POLICIES = st.one_of(
    st.builds(lambda n: {"latest": {"num_versions": n}}, st.integers(1, 3)),
    st.just({"all": {}}),
    st.builds(lambda vs: {"specific": {"versions": sorted(vs)}},
              st.sets(st.sampled_from(ALWAYS), min_size=1)))


def live_for(policy: Policy | None, on_disk: set[int]) -> set[int]:
    """The versions a policy selects (None: Triton's default, the latest one)."""
    policy = policy or {"latest": {"num_versions": 1}}
    if "all" in policy:
        return set(on_disk)
    if "latest" in policy:
        return set(sorted(on_disk)[-policy["latest"]["num_versions"]:])
    return set(policy["specific"]["versions"]) & on_disk


def pbtxt(policy: Policy) -> str:
    """config.pbtxt text holding only a version policy."""
    if "all" in policy:
        return "version_policy: { all: {} }\n"
    if "latest" in policy:
        count = policy["latest"]["num_versions"]
        return f"version_policy: {{ latest: {{ num_versions: {count} }} }}\n"
    return f"version_policy: {{ specific: {{ versions: {policy['specific']['versions']} }} }}\n"


def infer(client: Any, kind: str, version: int | None) -> tuple[int, float] | str:
    """(answering version, scale recovered from its output), or the error's status."""
    mod = httpclient if kind == "http" else grpcclient
    a = np.full((1, 4), 2.0, np.float32)
    b = np.full((1, 4), 0.5, np.float32)
    inputs = [mod.InferInput("a", [1, 4], "FP32"), mod.InferInput("b", [1, 4], "FP32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    extra = {} if kind == "http" else {"client_timeout": TIMEOUT_S}
    try:
        result = client.infer(MODEL, inputs, model_version=str(version or ""), **extra)
    except InferenceServerException as exc:
        return str(exc.status())
    response = result.get_response()
    answered = int(response["model_version"] if kind == "http" else response.model_version)
    return answered, float(np.mean((result.as_numpy("out") - b) / a))


class Lifecycle(RuleBasedStateMachine):
    """The model's expected live versions (None: unloaded) next to the server's."""

    server: Any = None
    repo: Path = Path()
    calls: dict[str, int] = {}  # rule name -> times run, to prove the machine ran

    def __init__(self) -> None:
        super().__init__()
        self.http = httpclient.InferenceServerClient(self.server.http_url,
                                                     network_timeout=TIMEOUT_S,
                                                     connection_timeout=TIMEOUT_S)
        self.grpc = grpcclient.InferenceServerClient(self.server.grpc_url)
        self.live: set[int] | None = None
        self.file_policy: Policy | None = None

    def teardown(self) -> None:
        self.http.close()
        self.grpc.close()

    def on_disk(self) -> set[int]:
        return {int(p.name) for p in (self.repo / MODEL).iterdir() if p.name.isdigit()}

    def client(self, kind: str) -> Any:
        return self.http if kind == "http" else self.grpc

    @initialize()
    def start_clean(self) -> None:
        (self.repo / MODEL / "config.pbtxt").unlink(missing_ok=True)
        self.file_policy = None
        if 4 in self.on_disk():
            os.rename(self.repo / MODEL / "4", self.repo / "v4")
        self.http.load_model(MODEL)
        self.live = {3}

    @rule(policy=POLICIES, kind=st.sampled_from(["http", "grpc"]))
    def load_with_override(self, policy: Policy, kind: str) -> None:
        self.calls["load_with_override"] = self.calls.get("load_with_override", 0) + 1
        self.client(kind).load_model(MODEL, config=json.dumps({"version_policy": policy}))
        self.live = live_for(policy, self.on_disk())

    @rule(kind=st.sampled_from(["http", "grpc"]))
    def reload_from_repository(self, kind: str) -> None:
        self.calls["reload_from_repository"] = self.calls.get("reload_from_repository", 0) + 1
        self.client(kind).load_model(MODEL)
        self.live = live_for(self.file_policy, self.on_disk())

    @rule(policy=st.one_of(st.none(), POLICIES))
    def change_config_file(self, policy: Policy | None) -> None:
        self.calls["change_config_file"] = self.calls.get("change_config_file", 0) + 1
        path = self.repo / MODEL / "config.pbtxt"
        if policy is None:
            path.unlink(missing_ok=True)
        else:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(pbtxt(policy))
            os.replace(tmp, path)
        self.file_policy = policy  # takes effect at the next load (explicit mode)

    @rule()
    def toggle_version_4(self) -> None:
        self.calls["toggle_version_4"] = self.calls.get("toggle_version_4", 0) + 1
        if 4 in self.on_disk():
            os.rename(self.repo / MODEL / "4", self.repo / "v4")
        else:
            os.rename(self.repo / "v4", self.repo / MODEL / "4")

    @rule(kind=st.sampled_from(["http", "grpc"]))
    def unload(self, kind: str) -> None:
        self.calls["unload"] = self.calls.get("unload", 0) + 1
        if self.live is None:
            with pytest.raises(InferenceServerException):
                self.client(kind).unload_model(MODEL)
            return
        self.client(kind).unload_model(MODEL)
        self.live = None

    @rule(kind=st.sampled_from(["http", "grpc"]), version=st.sampled_from([None, 1, 2, 3, 4]))
    def inference(self, kind: str, version: int | None) -> None:
        self.calls["inference"] = self.calls.get("inference", 0) + 1
        answer = infer(self.client(kind), kind, version)
        self.check(answer, version, [self.live])

    @rule(policy=POLICIES)
    def inference_during_a_load(self, policy: Policy) -> None:
        self.calls["inference_during_a_load"] = self.calls.get("inference_during_a_load", 0) + 1
        before = self.live
        answers: list[tuple[int, float] | str] = []
        other = grpcclient.InferenceServerClient(self.server.grpc_url)
        thread = threading.Thread(target=lambda: answers.extend(
            infer(other, "grpc", None) for _ in range(5)))
        thread.start()
        self.http.load_model(MODEL, config=json.dumps({"version_policy": policy}))
        self.live = live_for(policy, self.on_disk())
        thread.join(timeout=TIMEOUT_S * 5)
        assert not thread.is_alive(), "a request hung"
        other.close()
        for answer in answers:
            self.check(answer, None, [before, self.live])

    def check(self, answer: tuple[int, float] | str, asked: int | None,
              possible: list[set[int] | None]) -> None:
        """The answer came from a version live in one of the ``possible`` states, and its
        output proves which; an error only where no such version was live."""
        if isinstance(answer, str):
            assert any(live is None or (asked is not None and asked not in live)
                       for live in possible), f"{answer} with live versions {possible}"
            return
        version, scale = answer
        assert scale == pytest.approx(version), answer
        allowed = {(max(live) if asked is None else asked) for live in possible
                   if live and (asked is None or asked in live)}
        assert version in allowed, f"{answer} asked {asked}, live {possible}"

    @invariant()
    def index_agrees(self) -> None:
        if self.live is None:
            return
        rows = self.http.get_model_repository_index()
        ready = {int(r["version"]) for r in rows
                 if r["name"] == MODEL and r.get("state") == "READY" and r.get("version")}
        assert ready == self.live, (ready, self.live)


def test_lifecycle_state_machine(start_server, tmp_path: Path) -> None:
    """Random interleavings of the control API and inference (25 runs of up to 20 steps)."""
    repo = tmp_path / "models"
    for version in ALWAYS:
        (repo / MODEL / str(version)).mkdir(parents=True)
        (repo / MODEL / str(version) / "model.onnx").write_bytes(
            add_model(float(version)).SerializeToString())
    (repo / "v4").mkdir()
    (repo / "v4" / "model.onnx").write_bytes(add_model(4.0).SerializeToString())
    server = start_server(repo, "--model-control-mode", "explicit")
    Lifecycle.server, Lifecycle.repo = server, repo
    # derandomize: the same 25 runs every time, so the coverage check below cannot come and
    # go with the random seed (a random seed once left one of the seven rules unrun)
    run = settings(max_examples=25, stateful_step_count=20, deadline=None,
                   suppress_health_check=list(HealthCheck), database=None, derandomize=True)
    Lifecycle.TestCase.settings = run
    Lifecycle.calls = {}
    try:
        Lifecycle.TestCase().runTest()
    finally:
        Lifecycle.server = None
    print(Lifecycle.calls)
    assert sum(Lifecycle.calls.values()) >= 60 and len(Lifecycle.calls) == 7, Lifecycle.calls
    assert server.alive()
