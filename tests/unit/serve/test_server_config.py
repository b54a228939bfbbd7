"""ServerConfig and the serve command line: the model cache and readiness settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.cli import build_parser
from modelport.errors import ConfigError
from modelport.serve.cli import config_from_args
from modelport.serve.config import ServerConfig, auto_http_fronts


def _config(*argv: str) -> ServerConfig:
    config: ServerConfig = config_from_args(build_parser().parse_args(["serve", *argv]))
    return config


def test_model_cache_is_on_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The cache lives under $MODELPORT_CACHE_DIR unless turned off."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MODELPORT_NO_CACHE", raising=False)
    assert _config().model_cache_dir == tmp_path


@pytest.mark.parametrize("argv", [("--model-cache", "off"), ("--cache-dir", "")])
def test_model_cache_can_be_turned_off(argv: tuple[str, ...]) -> None:
    """`--model-cache off` and an empty `--cache-dir` both turn the cache off."""
    assert _config(*argv).model_cache_dir is None


def test_no_cache_environment_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """MODELPORT_NO_CACHE turns the cache off for configs built from the environment; a config
    built directly reads no environment."""
    monkeypatch.setenv("MODELPORT_NO_CACHE", "1")
    assert ServerConfig.from_env().model_cache_dir is None
    assert ServerConfig.from_env(model_cache=True).model_cache_dir is None
    assert ServerConfig().model_cache_dir is not None


def test_a_direct_config_reads_no_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    """The environment reaches a config only through from_env()."""
    monkeypatch.setenv("MODELPORT_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELPORT_CONTROL_TOKEN", "secret")
    monkeypatch.setenv("MODELPORT_EXTRA_BACKENDS", "mine=pkg.mod:Cls")
    direct = ServerConfig()
    assert (direct.cache_dir, direct.control_token, direct.extra_backends) == (
        Path.home() / ".cache" / "modelport", None, {})
    env = ServerConfig.from_env(control_token="given")
    assert (env.cache_dir, env.control_token, env.extra_backends) == (
        tmp_path, "given", {"mine": "pkg.mod:Cls"})


def test_cache_dir_flag_moves_the_cache(tmp_path: Path) -> None:
    """`--cache-dir DIR` puts the cache there."""
    assert _config("--cache-dir", str(tmp_path)).model_cache_dir == tmp_path


def test_strict_readiness_defaults_to_true() -> None:
    """Triton's default; `--strict-readiness false` turns it off."""
    assert _config().strict_readiness is True
    assert _config("--strict-readiness", "false").strict_readiness is False


def test_request_limit_flags() -> None:
    """--max-tensor-elements and --max-header-size reach the config; nonsense is refused."""
    config = _config("--max-tensor-elements", "1000", "--max-header-size", "2048")
    assert (config.max_tensor_elements, config.max_header_bytes) == (1000, 2048)
    assert _config().max_tensor_elements == 1 << 30
    with pytest.raises(ValueError, match="--max-tensor-elements"):
        ServerConfig(max_tensor_elements=0)
    with pytest.raises(ValueError, match="--max-header-size"):
        ServerConfig(max_header_bytes=10)


def test_intra_op_spinning_flag() -> None:
    """--intra-op-spinning on reaches the config; off by default (pool threads sleep)."""
    assert _config().intra_op_spinning is False
    assert ServerConfig().intra_op_spinning is False
    assert _config("--intra-op-spinning", "on").intra_op_spinning is True


def test_event_loop_choice_is_checked_when_the_config_is_built(monkeypatch) -> None:
    """--loop takes auto, asyncio or uvloop; uvloop asked for where it is missing is a config
    error that says what to do, while auto falls back to asyncio's loop."""
    import importlib.util

    from modelport.serve import eventloop

    with pytest.raises(ConfigError, match="--loop must be one of auto, asyncio, uvloop"):
        ServerConfig(event_loop="tokio")  # type: ignore[arg-type]
    assert eventloop.resolve("asyncio") == "asyncio"
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "uvloop" else real(name, *a))
    assert eventloop.resolve("auto") == "asyncio"
    with pytest.raises(ConfigError, match=r"uvloop is not installed.*--loop asyncio"):
        ServerConfig(event_loop="uvloop")


def test_http_fronts_auto_is_one_front_on_two_or_more_cores() -> None:
    """auto: one front process where the server may use 2+ cores, none on one core."""
    assert [auto_http_fronts(cores) for cores in (1, 2, 3, 64)] == [0, 1, 1, 1]


@pytest.mark.parametrize(("cores", "expected"), [(1, 0), (2, 1), (16, 1)])
def test_command_line_defaults_to_auto_fronts(monkeypatch: pytest.MonkeyPatch, cores: int,
                                              expected: int) -> None:
    """The command line resolves --http-fronts auto from the cores this process may use; a
    config built from Python keeps HTTP in its own process."""
    monkeypatch.setattr("modelport.cpus.usable_cores", lambda: cores)
    assert _config().http_fronts == expected
    assert _config("--http-fronts", "auto").http_fronts == expected
    assert ServerConfig().http_fronts == 0 and ServerConfig.from_env().http_fronts == 0


def test_http_fronts_flag_takes_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit count wins over auto on any machine; a word other than auto is refused."""
    monkeypatch.setattr("modelport.cpus.usable_cores", lambda: 8)
    assert _config("--http-fronts", "0").http_fronts == 0
    assert _config("--http-fronts", "3").http_fronts == 3
    with pytest.raises(SystemExit):
        _config("--http-fronts", "many")
    with pytest.raises(ConfigError, match="between 0 and 64"):
        _config("--http-fronts", "65")
