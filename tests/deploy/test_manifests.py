"""deploy/kubernetes and deploy/kserve: every object valid for Kubernetes 1.29 and the newest
kubernetes-validate knows (strict), custom resources valid for their CRDs, and the pod specs
consistent with the server: flags it accepts, ports it opens, probe paths it answers."""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from deploy_support import REPO_ROOT, Launched
from k8s_schemas import validate
from kustomize_lite import load_documents, render

from modelport import ServerConfig
from modelport.cli import build_parser

K8S = REPO_ROOT / "deploy" / "kubernetes"
KSERVE = REPO_ROOT / "deploy" / "kserve"
RENDERED = {name: render(K8S / path) for name, path in
            [("base", "base"), ("cpu", "overlays/cpu"), ("gpu", "overlays/gpu")]}
LOOSE = {path.name: load_documents(path) for path in
         [KSERVE / "servingruntime.yaml", KSERVE / "inferenceservice.yaml",
          K8S / "prometheus-adapter" / "config.yaml"]}
EVERY = [(f"{name}:{d['kind']}/{d['metadata']['name']}", d)
         for name, docs in {**RENDERED, **LOOSE}.items() for d in docs]


def one(docs: list[dict[str, Any]], kind: str, name: str = "modelport") -> dict[str, Any]:
    """The object of that kind and name."""
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def server_args(container: dict[str, Any]) -> list[str]:
    """The container's args with $(VAR) expanded the way the kubelet does, from env values
    and resourceFieldRefs (requests.cpu with divisor 1 rounds up to whole cores)."""
    values = {}
    for env in container.get("env", []):
        if "value" in env:
            values[env["name"]] = env["value"]
        else:
            ref = env["valueFrom"]["resourceFieldRef"]
            kind, resource = ref["resource"].split(".")
            quantity = container["resources"][kind][resource]
            cores = int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
            values[env["name"]] = str(max(1, -int(-cores // 1)))
    return [re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], a) for a in container["args"]]


@pytest.mark.parametrize("name,doc", EVERY, ids=[n for n, _ in EVERY])
def test_every_object_is_valid(name: str, doc: dict[str, Any]) -> None:
    """Kubernetes' own schemas for built-in kinds, the CRD schemas for custom resources."""
    validate(doc)


@pytest.mark.parametrize("path,value", [
    ("spec/template/spec/containers/0/readinesProbe", {}),                 # typo'd field
    ("spec/template/spec/containers/0/ports/0/containerPort", "http"),     # wrong type
])
def test_a_broken_deployment_is_refused(path: str, value: Any) -> None:
    """The built-in validation is strict: an unknown field or a wrong type fails."""
    _refused(one(RENDERED["base"], "Deployment"), path, value)


@pytest.mark.parametrize("kind,path,value", [
    ("ServingRuntime", "spec/protocolVersions/0", "v3"),
    ("ServingRuntime", "spec/supportedModelFormats/0/autoselect", True),
    ("ServingRuntime", "spec/containers/0/readinessProbe/httpGet/paht", "/"),
    ("InferenceService", "spec/predictor/model/storageURI", "s3://x"),
    ("InferenceService", "spec/predictor/scaleMetric", "latency"),
    ("ServiceMonitor", "spec/endpoints/0/interval", "15 seconds"),
    ("ServiceMonitor", "spec/endpoints/0/portName", "metrics"),
])
def test_a_broken_custom_resource_is_refused(kind: str, path: str, value: Any) -> None:
    """The CRD schemas catch bad enums, patterns, unknown fields, in core types too."""
    docs = RENDERED["base"] + LOOSE["servingruntime.yaml"] + LOOSE["inferenceservice.yaml"]
    (doc,) = [d for d in docs if d["kind"] == kind]
    _refused(doc, path, value)


def _refused(doc: dict[str, Any], path: str, value: Any) -> None:
    broken = copy.deepcopy(doc)
    *parents, last = path.split("/")
    node: Any = broken
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


@pytest.mark.parametrize("overlay", sorted(RENDERED))
def test_pod_spec_matches_the_server(overlay: str) -> None:
    """Args parse with modelport's own CLI; ports named http/grpc/metrics are the ones the
    flags open; probes hit live/ready on the HTTP port; the Service, ServiceMonitor, PDB and
    HPA point at what exists; the shutdown budget fits the grace period."""
    docs = RENDERED[overlay]
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = build_parser().parse_args(server_args(container))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": args.http_port, "grpc": args.grpc_port,
                     "metrics": args.metrics_port}
    assert args.http_address == args.grpc_address == args.metrics_address == "0.0.0.0"
    assert args.strict_readiness is True
    probes = {k: container[k]["httpGet"] for k in
              ("startupProbe", "livenessProbe", "readinessProbe")}
    assert {k: (p["path"], p["port"]) for k, p in probes.items()} == {
        "startupProbe": ("/v2/health/live", "http"),
        "livenessProbe": ("/v2/health/live", "http"),
        "readinessProbe": ("/v2/health/ready", "http")}
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = {f.name: f.default for f in dataclasses.fields(ServerConfig)}["shutdown_grace_s"]
    assert pre_stop + grace + args.drain_timeout < pod["terminationGracePeriodSeconds"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    repository = str(args.repository)
    assert mounts[repository]["readOnly"] is True
    assert _image_env("MODELPORT_CACHE_DIR") in mounts
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = one(docs, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    assert one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() \
        <= labels.items()
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == \
        deployment["metadata"]["name"]
    claim = next(v for v in pod["volumes"] if v["name"] == mounts[repository]["name"])
    assert claim["persistentVolumeClaim"]["claimName"] == \
        one(docs, "PersistentVolumeClaim", "modelport-models")["metadata"]["name"]


def _image_env(name: str) -> str:
    """An ENV value the Containerfile sets."""
    match = re.search(rf"\b{name}=(\S+)", (REPO_ROOT / "Containerfile").read_text())
    assert match, name
    return match.group(1)


def test_gpu_overlay_asks_for_a_gpu_and_the_cuda_image() -> None:
    """One nvidia.com/gpu per pod, the -cuda tag, GPU nodes only; the CPU overlay has none."""
    (gpu,) = one(RENDERED["gpu"], "Deployment")["spec"]["template"]["spec"]["containers"]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert gpu["image"].endswith(":0.1.0-cuda")
    pod = one(RENDERED["gpu"], "Deployment")["spec"]["template"]["spec"]
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    (cpu,) = one(RENDERED["cpu"], "Deployment")["spec"]["template"]["spec"]["containers"]
    assert "nvidia.com/gpu" not in cpu["resources"].get("limits", {})
    assert cpu["image"].endswith(":0.1.0")
    assert all(d["metadata"]["namespace"] == "modelport" for d in RENDERED["gpu"])


def test_kserve_runtime_speaks_v2_for_onnx_and_its_args_parse() -> None:
    """protocol v2 and grpc-v2, model format onnx, the repository where KServe mounts it,
    HTTP on KServe's 8080, readiness on /v2/health/ready; the InferenceService picks it."""
    (runtime,) = LOOSE["servingruntime.yaml"]
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["v2", "grpc-v2"]
    assert [f["name"] for f in spec["supportedModelFormats"]] == ["onnx"]
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container"
    args = build_parser().parse_args(container["args"])
    assert (str(args.repository), args.http_port, args.grpc_port) == ("/mnt/models", 8080, 9000)
    assert spec["annotations"]["prometheus.kserve.io/port"] == str(args.metrics_port)
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready",
                                                      "port": args.http_port}
    (isvc,) = LOOSE["inferenceservice.yaml"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] == "onnx" and model["protocolVersion"] in \
        spec["protocolVersions"]


@pytest.mark.parametrize("where", ["deployment", "servingruntime"])
def test_the_server_started_with_the_manifest_args_answers_its_probes(
        where: str, tmp_path: Path) -> None:
    """A real modelport run with the manifest's own args (bound to 127.0.0.1 on free ports,
    the demo repository in place of the volume) answers 200 on every probe path."""
    if where == "deployment":
        (container,) = one(RENDERED["base"], "Deployment")["spec"]["template"]["spec"][
            "containers"]
    else:
        (container,) = LOOSE["servingruntime.yaml"][0]["spec"]["containers"]
    args = server_args(container)
    args = [re.sub(r"^(--\w+-address=).*", r"\g<1>127.0.0.1", a) for a in args]
    args = [re.sub(r"^(--\w+-port=).*", r"\g<1>0", a) for a in args]
    repository = str(build_parser().parse_args(args).repository)
    args = [a for a in args if a != repository]  # no repository: the demo one
    server = Launched([sys.executable, "-m", "modelport", *args], tmp_path / "serve.log",
                      env={"MODELPORT_CACHE_DIR": str(tmp_path / "cache"),
                           "PATH": "/usr/bin:/bin"})
    try:
        paths = {container[k]["httpGet"]["path"] for k in
                 ("startupProbe", "livenessProbe", "readinessProbe") if k in container}
        assert "/v2/health/ready" in paths
        for path in paths:
            with urllib.request.urlopen(f"http://{server.http_url}{path}", timeout=5) as r:
                assert r.status == 200, path
    finally:
        assert server.stop() == 0, server.log()
