"""Triton's ModelConfig in its three forms: protobuf text (config.pbtxt), message, and JSON.

The message is the source of truth; `to_view` turns it into the typed ModelConfig the server
acts on, validating what it reads.
"""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import json_format, text_format
from google.protobuf.descriptor import FieldDescriptor

from modelport.datatypes import BY_CONFIG
from modelport.errors import ModelConfigError
from modelport.repository import model_config_pb2
from modelport.repository.config import (
    DEFAULT_MODEL_FILENAME,
    DynamicBatching,
    EnsembleStep,
    InstanceGroup,
    ModelConfig,
    QueuePolicy,
    TensorSpec,
    VersionPolicy,
)
from modelport.repository.sequence import sequence_batching

Message = model_config_pb2.ModelConfig

_INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def parse_text(text: str, source: str = "config.pbtxt") -> Any:
    """Parse protobuf text format into a ModelConfig message.

    Raises:
        ModelConfigError: the text is not a valid ModelConfig; the message names the line.
    """
    msg = Message()
    try:
        text_format.Parse(text, msg)
    except (text_format.ParseError, ValueError) as exc:  # ValueError: an enum number past int32
        raise ModelConfigError(f"{source}: {exc}") from None
    _check_enums(msg, source)
    return msg


def parse_json(data: dict[str, Any] | str, source: str = "config") -> Any:
    """Parse Triton's JSON config form (as sent in a load request's ``config`` parameter)."""
    msg = Message()
    try:
        if isinstance(data, str):
            json_format.Parse(data, msg)
        else:
            json_format.ParseDict(data, msg)
    except (json_format.ParseError, ValueError) as exc:
        raise ModelConfigError(f"{source}: {exc}") from None
    _check_enums(msg, source)
    return msg


def _check_enums(msg: Any, source: str) -> None:
    """Refuse enum numbers the schema does not name (``data_type: 32``): proto3 keeps them,
    and every reader of the config would fail on them later (found by fuzzing)."""
    for field, value in msg.ListFields():
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            values = list(value.values()) if field.message_type.fields_by_name[
                "value"].message_type is not None else []
        elif field.is_repeated:  # protobuf 7 dropped FieldDescriptor.label
            values = list(value)
        else:
            values = [value]
        if field.enum_type is not None:
            for number in values:
                if number not in field.enum_type.values_by_number:
                    raise ModelConfigError(f"{source}: field '{field.name}' has the value "
                                           f"{number}, which {field.enum_type.name} does not "
                                           "name")
        elif field.message_type is not None:
            for item in values:
                _check_enums(item, source)


def to_text(msg: Any) -> str:
    """Protobuf text format of a ModelConfig message."""
    return str(text_format.MessageToString(msg))


def to_json(msg: Any) -> dict[str, Any]:
    """Triton's JSON form: proto field names, 64-bit integers as numbers, and every primitive
    and repeated field printed even at its default (Triton prints zeros, false and empty lists,
    and clients read ``max_batch_size`` and friends without defaults of their own)."""
    data = json_format.MessageToDict(msg, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)
    return _int64_as_numbers(msg.DESCRIPTOR, data)


def _int64_as_numbers(descriptor: Any, data: dict[str, Any]) -> dict[str, Any]:
    for name, value in data.items():
        fd = descriptor.fields_by_name.get(name)
        if fd is None:
            continue
        if fd.message_type is not None:
            entry = fd.message_type
            if entry.GetOptions().map_entry:
                value_fd = entry.fields_by_name["value"]
                if value_fd.message_type is not None:
                    for item in value.values():
                        _int64_as_numbers(value_fd.message_type, item)
            elif isinstance(value, list):
                for item in value:
                    _int64_as_numbers(entry, item)
            else:
                _int64_as_numbers(entry, value)
        elif fd.type in _INT64_TYPES:
            data[name] = [int(v) for v in value] if isinstance(value, list) else int(value)
    return data


def to_view(msg: Any) -> ModelConfig:
    """Validate a complete ModelConfig message and return the typed view.

    Raises:
        ModelConfigError: a field has a value modelport cannot serve.
    """
    name = msg.name
    if msg.max_batch_size < 0:
        raise ModelConfigError(f"model '{name}': max_batch_size must be >= 0")
    inputs = tuple(_tensor(name, t, "input") for t in msg.input)
    outputs = tuple(_tensor(name, t, "output") for t in msg.output)
    if not inputs or not outputs:
        raise ModelConfigError(f"model '{name}': config needs at least one input and one output")
    _unique(name, [t.name for t in inputs], "input")
    _unique(name, [t.name for t in outputs], "output")
    groups = tuple(
        InstanceGroup(
            # below 1 means one, as Triton normalizes it: a negative count made no instance,
            # and requests waited forever on a queue nobody served
            count=max(g.count, 1), kind=model_config_pb2.ModelInstanceGroup.Kind.Name(g.kind)
        )
        for g in msg.instance_group
    ) or (InstanceGroup(),)
    return ModelConfig(
        name=name,
        platform=msg.platform or "onnxruntime_onnx",
        backend=msg.backend or ("" if msg.platform == "ensemble" else "onnxruntime"),
        max_batch_size=msg.max_batch_size,
        inputs=inputs,
        outputs=outputs,
        version_policy=version_policy(msg),
        dynamic_batching=_dynamic_batching(msg),
        sequence_batching=sequence_batching(msg),
        instance_groups=groups,
        parameters={k: v.string_value for k, v in msg.parameters.items()},
        default_model_filename=msg.default_model_filename or (
            "model.py" if msg.backend == "python" else DEFAULT_MODEL_FILENAME),
        decoupled=bool(msg.model_transaction_policy.decoupled),
        warmup=tuple(
            json_format.MessageToDict(w, preserving_proto_field_name=True) for w in msg.model_warmup
        ),
        ensemble_steps=_ensemble_steps(msg),
        message=msg,
    )


def _ensemble_steps(msg: Any) -> tuple[EnsembleStep, ...]:
    if not msg.HasField("ensemble_scheduling"):
        return ()
    return tuple(
        EnsembleStep(step.model_name, int(step.model_version),
                     tuple(sorted(step.input_map.items())), tuple(sorted(step.output_map.items())))
        for step in msg.ensemble_scheduling.step)


def _tensor(model: str, t: Any, kind: str) -> TensorSpec:
    type_name = model_config_pb2.DataType.Name(t.data_type)
    dt = BY_CONFIG.get(type_name)
    if dt is None:
        raise ModelConfigError(f"model '{model}': {kind} '{t.name}' has unsupported {type_name}")
    if any(d < -1 or d == 0 for d in t.dims) and list(t.dims) != [0]:
        raise ModelConfigError(
            f"model '{model}': {kind} '{t.name}' has invalid dims {list(t.dims)}"
        )
    optional = bool(getattr(t, "optional", False))
    dims = tuple(int(d) for d in t.dims)
    reshape = tuple(int(d) for d in t.reshape.shape) if t.HasField("reshape") else None
    if reshape is not None:
        _check_reshape(model, kind, t.name, dims, reshape)
    label_file = getattr(t, "label_filename", "") or ""
    return TensorSpec(name=t.name, datatype=dt.name, dims=dims, optional=optional,
                      reshape=reshape, label_filename=label_file)


def _check_reshape(model: str, kind: str, name: str, dims: tuple[int, ...],
                   reshape: tuple[int, ...]) -> None:
    """A reshape must hold as many elements as the dims, and leave at most one dimension
    variable on each side (so the other follows from the element count)."""
    where = f"model '{model}': {kind} '{name}' reshape {list(reshape)}"
    if any(d < -1 or d == 0 for d in reshape):
        raise ModelConfigError(f"{where} has an invalid dimension")
    if sum(d == -1 for d in dims) > 1 or sum(d == -1 for d in reshape) > 1:
        raise ModelConfigError(f"{where}: modelport supports at most one variable dimension "
                               f"in dims {list(dims)} and in the reshape")
    if (-1 in dims) != (-1 in reshape):
        raise ModelConfigError(f"{where} and dims {list(dims)} must both be fixed or both "
                               "have one variable dimension")
    fixed = [math.prod(d for d in x if d != -1) for x in (dims, reshape)]
    if -1 not in dims and fixed[0] != fixed[1]:
        raise ModelConfigError(f"{where} holds {fixed[1]} elements but dims {list(dims)} "
                               f"hold {fixed[0]}")


def _unique(model: str, names: list[str], kind: str) -> None:
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ModelConfigError(f"model '{model}': duplicate {kind} names {dupes}")


def version_policy(msg: Any) -> VersionPolicy:
    choice = msg.version_policy.WhichOneof("policy_choice")
    if choice == "all":
        return VersionPolicy(kind="all")
    if choice == "specific":
        return VersionPolicy(
            kind="specific", versions=tuple(int(v) for v in msg.version_policy.specific.versions)
        )
    num = msg.version_policy.latest.num_versions if choice == "latest" else 1
    return VersionPolicy(kind="latest", num_versions=max(int(num), 1))


def _dynamic_batching(msg: Any) -> DynamicBatching | None:
    if not msg.HasField("dynamic_batching"):
        return None
    db = msg.dynamic_batching
    qp = db.default_queue_policy
    action = model_config_pb2.ModelQueuePolicy.TimeoutAction.Name(qp.timeout_action)
    queue = QueuePolicy(
        max_queue_size=int(qp.max_queue_size),
        default_timeout_us=int(qp.default_timeout_microseconds),
        timeout_action="DELAY" if action == "DELAY" else "REJECT",
        allow_timeout_override=(bool(qp.allow_timeout_override)
                                if db.HasField("default_queue_policy") else True),
    )
    preferred = tuple(sorted(int(b) for b in db.preferred_batch_size))
    if msg.max_batch_size and any(b > msg.max_batch_size or b < 1 for b in preferred):
        raise ModelConfigError(
            f"model '{msg.name}': preferred_batch_size {list(preferred)} must lie in "
            f"1..max_batch_size ({msg.max_batch_size})"
        )
    return DynamicBatching(
        preferred_batch_size=preferred,
        max_queue_delay_us=int(db.max_queue_delay_microseconds),
        queue=queue,
    )
