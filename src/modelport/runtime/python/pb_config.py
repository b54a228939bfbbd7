"""``pb_utils.ModelConfig``: the config ``auto_complete_config`` reads and fills in.

It holds the config in Triton's JSON form; the stub hands the result back to the server,
which parses and validates it like any config.
"""

from __future__ import annotations

import json
from typing import Any

_INPUT_KEYS = ("name", "data_type", "dims", "optional")
_OUTPUT_KEYS = ("name", "data_type", "dims")


class ModelConfig:
    """The model's config during auto-completion (``as_dict`` to read it)."""

    def __init__(self, model_config: str | dict[str, Any]) -> None:
        config = json.loads(model_config) if isinstance(model_config, str) else model_config
        config.setdefault("input", [])
        config.setdefault("output", [])
        config.setdefault("max_batch_size", 0)
        self._model_config: dict[str, Any] = config

    def as_dict(self) -> dict[str, Any]:
        """The config as a dict (read it; change it through the setters)."""
        return self._model_config

    @property
    def _name(self) -> str:
        return str(self._model_config.get("name", ""))

    def set_max_batch_size(self, max_batch_size: int) -> None:
        """Set max_batch_size; a config that already sets a larger one is an error."""
        current = int(self._model_config.get("max_batch_size", 0))
        if current > max_batch_size:
            raise ValueError(f"configuration specified max_batch_size {current}, but in "
                             f"auto-complete-config function for model '{self._name}' "
                             f"specified max_batch_size {max_batch_size}")
        self._model_config["max_batch_size"] = max_batch_size

    def set_dynamic_batching(self) -> None:
        """Turn the dynamic batcher on (with its defaults) unless another scheduler is set."""
        for other in ("sequence_batching", "ensemble_scheduling"):
            if other in self._model_config:
                raise ValueError(f"Configuration specified scheduling_choice as '{other}', but "
                                 f"auto-complete-config function for model '{self._name}' tries "
                                 "to set scheduling_choice as 'dynamic_batching'")
        self._model_config.setdefault("dynamic_batching", {})

    def add_input(self, input: dict[str, Any]) -> None:
        """Add an input, or complete the config's input of that name."""
        self._add("input", input, _INPUT_KEYS)

    def add_output(self, output: dict[str, Any]) -> None:
        """Add an output, or complete the config's output of that name."""
        self._add("output", output, _OUTPUT_KEYS)

    def set_model_transaction_policy(self, transaction_policy_dict: dict[str, Any]) -> None:
        """Set ``decoupled``; changing what the config already says is an error."""
        extra = [k for k in transaction_policy_dict if k != "decoupled"]
        if extra:
            raise ValueError(f"model transaction property in auto-complete-config function for "
                             f"model '{self._name}' contains property other than 'decoupled'.")
        policy = self._model_config.setdefault("model_transaction_policy", {})
        if "decoupled" in transaction_policy_dict:
            wanted = bool(transaction_policy_dict["decoupled"])
            if "decoupled" in policy and bool(policy["decoupled"]) != wanted:
                raise ValueError(f"trying to change decoupled property in auto-complete-config "
                                 f"for model '{self._name}', which is already set to "
                                 f"'{policy['decoupled']}'.")
            policy["decoupled"] = wanted

    def _add(self, kind: str, tensor: dict[str, Any], allowed: tuple[str, ...]) -> None:
        where = f"in auto-complete-config function for model '{self._name}'"
        unknown = [k for k in tensor if k not in allowed]
        if unknown:
            raise ValueError(f"{kind} '{tensor.get('name', '')}' {where} contains property "
                             f"other than {', '.join(repr(k) for k in allowed)}.")
        for key in ("name", "data_type", "dims"):
            if key not in tensor:
                raise ValueError(f"{kind} '{tensor.get('name', '')}' {where} is missing "
                                 f"'{key}' property.")
        for current in self._model_config[kind]:
            if current.get("name") == tensor["name"]:
                _merge(self._name, kind, current, tensor)
                return
        self._model_config[kind].append(dict(tensor))


def _merge(model: str, kind: str, current: dict[str, Any], given: dict[str, Any]) -> None:
    known_type = current.get("data_type", "TYPE_INVALID")
    if known_type not in ("TYPE_INVALID", given["data_type"]):
        raise ValueError(f"unable to load model '{model}', configuration expects datatype "
                         f"{known_type} for {kind} '{given['name']}', model provides "
                         f"{given['data_type']}")
    dims = [int(d) for d in current.get("dims", [])]
    if dims and dims != [int(d) for d in given["dims"]]:
        raise ValueError(f"model '{model}', tensor '{given['name']}': the model expects dims "
                         f"{list(given['dims'])} but the model configuration specifies dims "
                         f"{dims}")
    if "optional" in current and "optional" in given and current["optional"] != given["optional"]:
        raise ValueError(f"model '{model}', tensor '{given['name']}': the model expects optional "
                         f"{given['optional']} but the model configuration specifies optional "
                         f"{current['optional']}")
    current.update(given)
