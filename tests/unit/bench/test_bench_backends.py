"""The backend contract, checked on the fake runtime shipped in the package, and the registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelport.bench import backends
from modelport.bench.backends.base import BackendOptions
from modelport.bench.backends.fake import FakeBackend
from modelport.errors import BenchError, RuntimeUnavailable


def test_fake_follows_contract(tiny_mlp: Path, tmp_path: Path) -> None:
    """load() describes what runs; run() returns every ONNX output, batch first."""
    backend = FakeBackend(latency=0.0)
    info = backend.load(tiny_mlp, BackendOptions(threads=2, workdir=tmp_path))
    assert (info.runtime, info.precision, info.threads) == ("fake", "fp32", 2)
    out = backend.run({"input": np.ones((5, 8), np.float32)})
    assert list(out) == ["output"]
    assert out["output"].shape == (5, 3)
    assert np.all(out["output"] == 1.0)


def test_fake_offset_and_requested_precision(tiny_mlp: Path) -> None:
    """The offset shifts outputs and a requested precision is reported back."""
    backend = FakeBackend(latency=0.0, offset=0.5)
    info = backend.load(tiny_mlp, BackendOptions(threads=1, precision="bf16"))
    assert info.precision == "bf16"
    assert np.allclose(backend.run({"input": np.zeros((1, 8), np.float32)})["output"], 0.5)


def test_fake_unavailable_raises(tiny_mlp: Path) -> None:
    """An unavailable runtime raises RuntimeUnavailable with its reason."""
    with pytest.raises(RuntimeUnavailable, match="no device"):
        FakeBackend(unavailable="no device").load(tiny_mlp, BackendOptions(threads=1))


def test_options_validation() -> None:
    """Zero threads or an unknown precision are rejected."""
    with pytest.raises(ValueError):
        BackendOptions(threads=0)
    with pytest.raises(ValueError):
        BackendOptions(threads=1, precision="int4")


def test_registry_imports_lazily_and_creates() -> None:
    """create() imports the backend named by its import string."""
    assert isinstance(backends.create("fake"), FakeBackend)
    assert backends.why_unavailable("fake") is None


def test_unknown_runtime_is_a_bench_error() -> None:
    """An unknown runtime name lists the known ones."""
    with pytest.raises(BenchError, match="onnxruntime"):
        backends.spec_of("tensorflow-lite-xl")


def test_missing_package_gives_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A runtime whose package is missing says which and how to install it."""
    spec = backends.RuntimeSpec(
        "ghost", "x:Y", ("modelport_no_such_module",), "pip install 'modelport[ghost]'"
    )
    monkeypatch.setitem(backends.RUNTIMES, "ghost", spec)
    reason = backends.why_unavailable("ghost")
    assert reason is not None
    assert "modelport_no_such_module not installed" in reason
    assert "modelport[ghost]" in reason
    assert "\n" not in reason


def test_install_hints_are_one_command_that_installs_what_is_checked() -> None:
    """Each hint is a single pip command for one extra, and that extra (with the base
    dependencies) provides every module the runtime checks for: nothing to add by hand."""
    import re

    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("-", "_")
                for r in requirements}  # fmt: skip

    base = names(project["dependencies"])
    for spec in backends.RUNTIMES.values():
        if not spec.hint:
            continue
        assert spec.hint.count("pip install") == 1, spec.hint
        match = re.search(r"pip install (?:'modelport\[(\w+)\]'|([\w-]+))$", spec.hint)
        assert match, spec.hint
        extra = project["optional-dependencies"][match.group(1)] if match.group(1) else []
        provided = base | names(extra)
        assert set(spec.modules) <= provided, (spec.name, set(spec.modules) - provided)


def test_runtime_errors_become_one_line() -> None:
    """Multi-line runtime errors are joined, C++ source locations dropped, length bounded."""
    from modelport.bench.worker import one_line

    message = "cannot read: Exception from src/a.cpp:84:\nCheck 'false' failed\nNo rule for Foo\n"
    assert one_line(message) == "cannot read: | No rule for Foo"
    assert len(one_line("x" * 1000)) == 300
