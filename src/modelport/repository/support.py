"""Which fields of Triton's model configuration modelport acts on.

Every field of Triton's ModelConfig is accepted (a repository that loads in Triton parses here)
and returned by the config routes; the fields below are the ones that change what modelport
does. ``ignored_fields`` names the others a config sets, so a start-up warning can say which
settings have no effect instead of dropping them silently. docs/serve.md lists the same table.
"""

from __future__ import annotations

from typing import Any

# field -> True (the whole subtree is acted on) or a dict for its sub-fields
SUPPORTED: dict[str, Any] = {
    "name": True,
    "platform": True,
    "backend": True,
    "max_batch_size": True,
    "version_policy": True,
    "input": {"name": True, "data_type": True, "dims": True, "optional": True,
              "reshape": True, "format": True},
    "output": {"name": True, "data_type": True, "dims": True, "reshape": True,
               "label_filename": True},
    "instance_group": {"name": True, "count": True, "kind": True},
    "dynamic_batching": {
        "preferred_batch_size": True, "max_queue_delay_microseconds": True,
        "default_queue_policy": {"max_queue_size": True, "default_timeout_microseconds": True,
                                 "timeout_action": True, "allow_timeout_override": True},
    },
    "sequence_batching": {
        "max_sequence_idle_microseconds": True, "control_input": True,
        "direct": {"max_queue_delay_microseconds": True, "minimum_slot_utilization": True},
        "oldest": {"max_candidate_sequences": True, "preferred_batch_size": True,
                   "max_queue_delay_microseconds": True},
        "state": {"input_name": True, "output_name": True, "data_type": True, "dims": True,
                  "initial_state": True},
    },
    "parameters": True,
    "model_warmup": True,
    "default_model_filename": True,
    "ensemble_scheduling": {"step": {"model_name": True, "model_version": True,
                                     "input_map": True, "output_map": True}},
    "model_transaction_policy": {"decoupled": True},  # Python models; refused elsewhere
}


def ignored_fields(msg: Any) -> list[str]:
    """Dotted names of the fields ``msg`` sets that modelport does not act on."""
    found: list[str] = []
    _walk(msg, SUPPORTED, "", found)
    return sorted(set(found))


def _walk(msg: Any, supported: dict[str, Any], prefix: str, found: list[str]) -> None:
    for field, value in msg.ListFields():
        name = f"{prefix}{field.name}"
        rule = supported.get(field.name)
        if rule is True:
            continue
        if rule is None or field.message_type is None or _is_map(field):
            found.append(name)
            continue
        items = value if field.is_repeated else [value]
        for item in items:
            _walk(item, rule, f"{name}.", found)


def _is_map(field: Any) -> bool:
    return bool(field.message_type.GetOptions().map_entry)
