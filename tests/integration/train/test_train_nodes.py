"""Several Ray nodes on one machine: a node removed mid-run, the job finishes on the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.training import run_ps

ray = pytest.importorskip("ray")


def test_removed_node_leaves_the_job_running_on_the_rest(tiny_spec: Path,
                                                          tmp_path: Path) -> None:
    """Three Ray nodes on one machine; the node of one worker is removed mid-run; the elastic
    job (--workers 1:2) drops that worker and finishes on the other."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    nodes = [cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1") for _ in range(2)]
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        cluster.wait_for_nodes()
        removed: list[bool] = []

        def hook(dispatcher: Any, event: Any) -> None:
            if event.step == 4 and not removed:
                cluster.remove_node(nodes[1])
                removed.append(True)

        outcome = run_ps(tiny_spec, tmp_path, workers="1:2", steps=12, hook=hook)
        assert removed
        assert outcome.steps == 12
        assert outcome.workers_final == 1
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_added_node_lets_the_elastic_job_grow(tiny_spec: Path, tmp_path: Path) -> None:
    """A job of --workers 1:2 starts on a one-CPU node and takes a second worker when a node
    joins the cluster."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"})
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        sizes: list[int] = []

        def hook(dispatcher: Any, event: Any) -> None:
            sizes.append(event.workers)
            if event.step == 3 and len(sizes) < 5:
                cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
                cluster.wait_for_nodes()

        outcome = run_ps(tiny_spec, tmp_path, workers="1:2", steps=30, hook=hook)
        assert sizes[0] == 1
        assert outcome.steps == 30 and outcome.workers_final == 2
    finally:
        ray.shutdown()
        cluster.shutdown()
