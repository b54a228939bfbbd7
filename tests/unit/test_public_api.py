"""The public surface: exported names, a light import, the command line's help, the errors."""

from __future__ import annotations

import argparse
import builtins
import inspect
import json
import re
import subprocess
import sys

import pytest

import modelport
from modelport import errors
from modelport.cli import build_parser, main

PUBLIC = {
    "InferenceError",
    "InvalidInput",
    "MissingExtra",
    "ModelNotFound",
    "ModelportError",
    "Server",
    "ServerConfig",
    "__version__",
}
HEAVY = ("onnxruntime", "torch", "ray", "tensorflow", "openvino", "grpc", "uvicorn")


def _imported_after(code: str) -> list[str]:
    """Top-level heavy packages present in sys.modules after running ``code`` in a new process."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return [m for m in json.loads(out.splitlines()[-1]) if m in HEAVY]


def test_all_is_exactly_the_documented_set() -> None:
    """modelport.__all__ lists the documented public names, no more, no fewer, no repeats."""
    assert set(modelport.__all__) == PUBLIC
    assert len(modelport.__all__) == len(PUBLIC)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves(name: str) -> None:
    """Each name in __all__ is an attribute of the package."""
    assert getattr(modelport, name) is not None


def test_version_is_the_package_version() -> None:
    """__version__ matches the installed distribution's version."""
    from importlib.metadata import version

    assert modelport.__version__ == version("modelport")


def test_import_modelport_stays_light() -> None:
    """``import modelport`` imports no runtime, framework or server package."""
    assert _imported_after("import modelport") == []


def test_building_the_command_line_stays_light() -> None:
    """Building every subcommand's parser (what --help does) imports no heavy package."""
    assert _imported_after("from modelport.cli import build_parser\nbuild_parser()") == []


# --- command line --------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``modelport --help`` exits 0 and names every subcommand and top-level option."""
    parser = build_parser()
    text = _help(["--help"], capsys)
    for name in _subcommands(parser):
        assert re.search(rf"\b{re.escape(name)}\b", text), name
    for option in _options(parser):
        assert option in text, option
    assert {"serve", "run"} <= set(_subcommands(parser))


@pytest.mark.parametrize("command", ["serve", "run"])
def test_command_help_mentions_every_option(command: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """``modelport serve|run --help`` exits 0 and shows every option the parser defines."""
    sub = _subcommands(build_parser())[command]
    text = _help([command, "--help"], capsys)
    options = _options(sub)
    assert len(options) > 3
    for option in options:
        assert option in text, option
    for action in sub._actions:
        if not action.option_strings and action.dest != "help":
            assert (action.metavar or action.dest) in text, action.dest


def test_python_dash_m_help_exits_zero() -> None:
    """``python -m modelport --help`` works from a fresh process."""
    done = subprocess.run([sys.executable, "-m", "modelport", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout and "run" in done.stdout


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Bare ``modelport`` prints the help and returns 2."""
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


# --- errors --------------------------------------------------------------------------------------


TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)(?:\((?P<base>\w+)\))?"
                       r"(?P<rest>.*)$")


def _tree() -> list[tuple[int, str, str | None, str]]:
    """(depth, class name, built-in base, comment) for each line of the errors docstring tree."""
    rows = []
    for line in (errors.__doc__ or "").splitlines():
        found = TREE_LINE.match(line.strip("\n")[4:]) if line.startswith("    ") else None
        if found:
            depth = len(found["indent"]) // 4
            rows.append((depth, found["name"], found["base"], found["rest"].strip()))
    return rows


def _classes() -> dict[str, type[BaseException]]:
    return {name: cls for name, cls in vars(errors).items()
            if inspect.isclass(cls) and issubclass(cls, BaseException)
            and cls.__module__ == errors.__name__}


def test_docstring_tree_names_every_error_class() -> None:
    """The docstring's tree and the module's classes are the same set."""
    assert {name for _, name, _, _ in _tree()} == set(_classes())


def test_every_error_subclasses_modelport_error() -> None:
    """Every class in modelport.errors derives from ModelportError."""
    for cls in _classes().values():
        assert issubclass(cls, errors.ModelportError), cls


def test_errors_follow_the_documented_tree() -> None:
    """Each class subclasses its parent in the tree and the built-in named beside it."""
    parents: list[str] = []
    checked = 0
    for depth, name, base, _ in _tree():
        parents[depth:] = [name]
        cls = getattr(errors, name)
        if depth:
            assert issubclass(cls, getattr(errors, parents[depth - 1])), (name, parents)
        if base:
            assert issubclass(cls, getattr(builtins, base)), (name, base)
            checked += 1
    assert checked >= 6


def test_inference_errors_carry_documented_status_codes() -> None:
    """Each '404 / NOT_FOUND' note in the tree matches the class's http_status and grpc_code."""
    seen = 0
    for _, name, _, comment in _tree():
        found = re.match(r"(\d{3}) / ([A-Z_]+)", comment)
        if found:
            cls = getattr(errors, name)
            assert (cls.http_status, cls.grpc_code) == (int(found[1]), found[2]), name
            seen += 1
    assert seen >= 7


def test_missing_extra_message_names_the_pip_extra() -> None:
    """MissingExtra says what is missing and the pip command that installs it."""
    exc = errors.MissingExtra("onnxruntime-gpu", "gpu", "CUDA execution")
    assert str(exc) == ("onnxruntime-gpu is not installed (needed for CUDA execution): "
                        "pip install 'modelport[gpu]'")
    assert isinstance(exc, ImportError)


def test_closed_stdout_is_not_a_traceback() -> None:
    """`modelport ... | head` where head has gone: no traceback, SIGPIPE's exit status."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "modelport", "probe", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader leaves before the first byte
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 141), err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
