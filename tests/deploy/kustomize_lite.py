"""Render the kustomizations in deploy/kubernetes the way ``kubectl kustomize`` does, for the
subset of kustomize they use: resources (files and folders), JSON 6902 patches with a target,
images, namespace. Any other field fails the render, so the overlays cannot grow a feature
that the tests would not see. The patches are applied by ``jsonpatch`` (RFC 6902)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images", "namespace"}
POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def render(folder: Path) -> list[dict[str, Any]]:
    """The resources a kustomization folder produces."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    assert not unknown, f"{folder}: kustomization fields this renderer does not know: {unknown}"
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (folder / entry).resolve()
        docs += render(path) if path.is_dir() else load_documents(path)
    for patch in spec.get("patches", []):
        docs = _patched(docs, patch, folder)
    for image in spec.get("images", []):
        for doc in docs:
            _set_image(doc, image)
    if "namespace" in spec:
        for doc in docs:
            doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def _patched(docs: list[dict[str, Any]], patch: dict[str, Any], folder: Path,
             ) -> list[dict[str, Any]]:
    assert set(patch) == {"path", "target"}, patch
    operations = yaml.safe_load((folder / patch["path"]).read_text())
    hits = [i for i, d in enumerate(docs) if _matches(d, patch["target"])]
    assert len(hits) == 1, f"patch {patch['path']} matches {len(hits)} resources"
    out = list(docs)
    out[hits[0]] = jsonpatch.apply_patch(copy.deepcopy(docs[hits[0]]), operations)
    return out


def _matches(doc: dict[str, Any], target: dict[str, str]) -> bool:
    group, _, version = doc["apiVersion"].rpartition("/")
    have = {"group": group, "version": version, "kind": doc["kind"],
            "name": doc["metadata"]["name"]}
    return all(have[k] == v for k, v in target.items())


def _set_image(doc: dict[str, Any], image: dict[str, str]) -> None:
    if doc["kind"] not in POD_OWNERS:
        return
    pod = doc["spec"]["template"]["spec"]
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name = container["image"].split("@")[0].rsplit(":", 1)[0]
        if name == image["name"]:
            tag = image.get("newTag", container["image"].rsplit(":", 1)[-1])
            container["image"] = f"{image.get('newName', name)}:{tag}"
