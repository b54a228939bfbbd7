"""Config objects: the one place for defaults and validation."""

from __future__ import annotations

import pytest

from modelport.bench.config import BenchConfig, RuntimeChoice, ScenarioConfig
from modelport.bench.remote.config import RemoteConfig
from modelport.errors import ConfigError


def test_runtime_choice_parses_precision() -> None:
    """'openvino@bf16' asks OpenVINO for bf16; a bare name leaves the runtime's default."""
    assert RuntimeChoice.parse("openvino@bf16") == RuntimeChoice("openvino", "bf16")
    assert RuntimeChoice.parse("onnxruntime").label == "onnxruntime"


@pytest.mark.parametrize("text", ["openvino@int3", "tensorflow", ""])
def test_runtime_choice_rejects_unknown(text: str) -> None:
    """Unknown runtimes and precisions are configuration errors."""
    with pytest.raises(ConfigError):
        RuntimeChoice.parse(text)


def test_bench_config_validation() -> None:
    """Impossible measurement settings are refused."""
    with pytest.raises(ConfigError):
        BenchConfig("m", batch_sizes=(0,))
    with pytest.raises(ConfigError):
        BenchConfig("m", min_duration=5, max_duration=1)
    with pytest.raises(ConfigError):
        ScenarioConfig("burst")


def test_remote_config() -> None:
    """URLs need a scheme, host and port; binary is HTTP-only; rates replace concurrency."""
    cfg = RemoteConfig.build("grpc://127.0.0.1:8001", "mlp", request_rates=(5.0,))
    assert (cfg.protocol, cfg.address, cfg.levels) == ("grpc", "127.0.0.1:8001", [("rate", 5.0)])
    with pytest.raises(ConfigError):
        RemoteConfig.build("127.0.0.1:8000", "mlp")
    with pytest.raises(ConfigError):
        RemoteConfig.build("grpc://127.0.0.1:8001", "mlp", binary=True)
    with pytest.raises(ConfigError):
        RemoteConfig.build("http://127.0.0.1:8000", "")
