"""Validate Kubernetes objects: built-in kinds with kubernetes-validate's schemas (strict: no
unknown field), custom resources with the CRD schemas in tests/deploy/crds (see its README)."""

from __future__ import annotations

import copy
import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

CRDS = Path(__file__).resolve().parent / "crds"
# the oldest Kubernetes the manifests are meant for, and the newest the package knows
VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError (or a KeyError for an unknown kind) if doc is invalid."""
    crd = _crd_schemas().get(_key(doc))
    if crd is None:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
        return
    for version in VERSIONS:
        validator = jsonschema.Draft202012Validator(crd, registry=_registry(version))
        validator.validate(doc)


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["apiVersion"], doc["kind"]


@functools.cache
def _crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
            schema["properties"]["metadata"] = _ref(OBJECT_META)
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            out[key] = schema
    return out


def _strict(node: Any) -> Any:
    """What a strict API server enforces: no field the schema does not name; core types by
    reference to the Kubernetes schema."""
    if not isinstance(node, dict):
        return node
    if "x-modelport-ref" in node:
        return _ref(node["x-modelport-ref"])
    out = {k: _strict(v) if k in ("items", "additionalProperties") else v
           for k, v in node.items()}
    if "properties" in node:
        out["properties"] = {k: _strict(v) for k, v in node["properties"].items()}
        if "additionalProperties" not in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if "anyOf" in node:
        out["anyOf"] = [_strict(v) for v in node["anyOf"]]
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"{DEFINITIONS}#/$defs/{name}"}


@functools.cache
def _registry(version: str) -> Registry:
    folder = f"v{version}-local-strict"
    text = (files("kubernetes_validate") / "kubernetes-json-schema" / folder
            / "_definitions.json").read_text()
    return Resource.from_contents(json.loads(text)) @ Registry()
