"""Completing a Python model's config: its model.py's ``auto_complete_config``, if it has one.

As in Triton, the static method runs in a stub of its own (model.py's imports stay out of the
server), takes the config read so far and returns it filled in; the server then validates it
like any config. A model.py that does not define the method is not started at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelport.errors import ModelConfigError
from modelport.runtime.python.execenv import site_dirs
from modelport.runtime.python.process import StubFailed, StubGone, StubProcess, StubTimedOut

TIMEOUT_S = 120.0
METHOD = "auto_complete_config"


def complete(msg: Any, model_name: str, version_dir: Path) -> Any:
    """Fill ``msg`` in with what model.py's ``auto_complete_config`` adds (in place).

    Raises:
        ModelConfigError: model.py is missing, or the method failed or returned a bad config.
    """
    from modelport.repository.pbtxt import parse_json, to_json

    file = version_dir / (msg.default_model_filename or "model.py")
    if not file.is_file():
        raise ModelConfigError(f"{model_name}/{version_dir.name}/{file.name} is missing")
    if METHOD not in file.read_text(encoding="utf-8", errors="replace"):
        return msg
    parameters = {k: v.string_value for k, v in msg.parameters.items()}
    setup = {"name": model_name, "version": version_dir.name, "model_file": str(file),
             "config": json.dumps(to_json(msg))}
    completed = _ask(model_name, setup, site_dirs(parameters, model_name, version_dir.parent))
    result = parse_json(completed, f"model '{model_name}': auto_complete_config")
    if result.name != model_name:
        raise ModelConfigError(f"model '{model_name}': auto_complete_config changed the name "
                               f"to '{result.name}'")
    msg.CopyFrom(result)
    return msg


def _ask(model_name: str, setup: dict[str, Any], dirs: list[str]) -> str:
    stub = StubProcess(f"{model_name}-autocomplete", dirs, lambda stub, m: None, lambda how: None,
                       region_bytes=1 << 20)
    try:
        completed: str = stub.call("autocomplete", setup, TIMEOUT_S)
        return completed
    except StubFailed as exc:
        raise ModelConfigError(f"model '{model_name}': {METHOD} failed: {exc}") from None
    except StubGone as exc:
        raise ModelConfigError(f"model '{model_name}': {METHOD} did not complete: the stub "
                               f"process {exc}") from None
    except StubTimedOut as exc:
        raise ModelConfigError(f"model '{model_name}': {METHOD} did not complete: "
                               f"{exc}") from None
    finally:
        stub.stop(1.0, finalize=False)
