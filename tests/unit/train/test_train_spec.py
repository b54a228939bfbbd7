"""Loading a training spec: the required functions, clear one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelport.errors import SpecError
from modelport.train.spec import load_spec

COMPLETE = """
def model(): return "model"
def dataset(): return [(1, 0), (2, 1)]
def loss(output, target): return 0.0
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.py"
    path.write_text(text)
    return path


def test_a_complete_spec_loads_with_defaults(tmp_path: Path) -> None:
    """A spec with the three required functions loads; optional parts fall back to defaults."""
    spec = load_spec(_write(tmp_path, COMPLETE))
    assert spec.model() == "model"
    assert len(spec.dataset()) == 2
    assert spec.batch_size == 32
    assert spec.example_input() is None
    assert spec.evaluate(None) == {}


def test_missing_file_says_what_a_spec_is(tmp_path: Path) -> None:
    """A path that is not a file is refused with what the file must define."""
    with pytest.raises(SpecError, match=r"is not a file.*model\(\), dataset\(\) and loss\(\)"):
        load_spec(tmp_path / "nope.py")


@pytest.mark.parametrize(("drop", "named"), [("loss", "loss()"), ("model", "model()")])
def test_missing_required_function_is_named(tmp_path: Path, drop: str, named: str) -> None:
    """A spec without a required function names the missing one."""
    text = "\n".join(line for line in COMPLETE.splitlines() if f"def {drop}" not in line)
    with pytest.raises(SpecError, match=re.escape(f"does not define {named}:")):
        load_spec(_write(tmp_path, text))


def test_several_missing_functions_are_listed(tmp_path: Path) -> None:
    """An empty spec names all three required functions."""
    with pytest.raises(SpecError, match=r"model\(\), dataset\(\) and loss\(\)"):
        load_spec(_write(tmp_path, "x = 1\n"))


def test_syntax_error_gives_the_line(tmp_path: Path) -> None:
    """A spec that does not parse is reported with its line number, not a traceback."""
    with pytest.raises(SpecError, match=r"fails to load \(line 3\)"):
        load_spec(_write(tmp_path, "x = 1\n\ndef broken(:\n"))


def test_missing_package_is_reported(tmp_path: Path) -> None:
    """An import of a package that is not installed says so."""
    with pytest.raises(SpecError, match="imports a missing package"):
        load_spec(_write(tmp_path, "import no_such_package_xyz\n" + COMPLETE))


def test_dataset_must_be_map_style(tmp_path: Path) -> None:
    """An iterator (no len, no indexing) is refused as not map-style."""
    spec = load_spec(_write(tmp_path, COMPLETE.replace("return [(1, 0), (2, 1)]",
                                                       "return iter([(1, 0)])")))
    with pytest.raises(SpecError, match="not map-style"):
        spec.dataset()


def test_failing_function_is_named(tmp_path: Path) -> None:
    """An exception inside a spec function is reported with the function's name."""
    spec = load_spec(_write(tmp_path, COMPLETE.replace('return "model"', "return 1 / 0")))
    with pytest.raises(SpecError, match=r"model\(\) in training spec .* ZeroDivisionError"):
        spec.model()


@pytest.mark.parametrize("value", ["0", "'8'", "True"])
def test_batch_size_must_be_a_positive_int(tmp_path: Path, value: str) -> None:
    """batch_size of 0, a string or a bool is refused."""
    spec = load_spec(_write(tmp_path, COMPLETE + f"batch_size = {value}\n"))
    with pytest.raises(SpecError, match="batch_size"):
        _ = spec.batch_size


def test_evaluate_must_return_a_dict(tmp_path: Path) -> None:
    """evaluate() returning a number is refused; a dict becomes floats."""
    spec = load_spec(_write(tmp_path, COMPLETE + "def evaluate(m): return 0.5\n"))
    with pytest.raises(SpecError, match="dict"):
        spec.evaluate(None)
    good = load_spec(_write(tmp_path, COMPLETE + "def evaluate(m): return {'acc': 1}\n"))
    assert good.evaluate(None) == {"acc": 1.0}
