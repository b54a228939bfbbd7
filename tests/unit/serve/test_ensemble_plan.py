"""plan_steps: an ensemble's graph checked against its members' configs, without a server."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from modelport.errors import ModelConfigError, ModelNotFound
from modelport.repository import pbtxt
from modelport.repository.config import ModelConfig
from modelport.serve.ensemble import plan_steps


@dataclass
class Member:
    """What plan_steps reads of a live member: its config."""

    config: ModelConfig


def _config(text: str) -> ModelConfig:
    return pbtxt.to_view(pbtxt.parse_text(text))


MEMBERS = {
    "double": _config("""name: "double" max_batch_size: 8
input [{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }]
output [{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }]"""),
    "join": _config("""name: "join" max_batch_size: 8
input [{ name: "a" data_type: TYPE_FP32 dims: [ 4 ] },
       { name: "b" data_type: TYPE_FP32 dims: [ 4 ] }]
output [{ name: "s" data_type: TYPE_FP32 dims: [ 4 ] }]"""),
}


def _lookup(name: str, version: int) -> Member:
    if name not in MEMBERS:
        raise ModelNotFound(f"Request for unknown model: '{name}' is not found")
    return Member(MEMBERS[name])


def _ensemble(steps: str, outputs: str = 'output [{ name: "OUT" data_type: TYPE_FP32 '
              'dims: [ 4 ] }]') -> ModelConfig:
    return _config(f"""name: "e" platform: "ensemble" max_batch_size: 8
input [{{ name: "IN" data_type: TYPE_FP32 dims: [ 4 ] }}]
{outputs}
ensemble_scheduling {{ step [ {steps} ] }}""")


def _step(model: str, inputs: dict[str, str], outputs: dict[str, str]) -> str:
    maps = [f'input_map {{ key: "{k}" value: "{v}" }}' for k, v in inputs.items()]
    maps += [f'output_map {{ key: "{k}" value: "{v}" }}' for k, v in outputs.items()]
    return f'{{ model_name: "{model}" {" ".join(maps)} }}'


def test_fan_out_and_join_plans() -> None:
    """Two steps read IN side by side and a third joins them: a valid graph, in any order."""
    plan_steps(_ensemble(", ".join([
        _step("join", {"a": "left", "b": "right"}, {"s": "OUT"}),
        _step("double", {"x": "IN"}, {"y": "left"}),
        _step("double", {"x": "IN"}, {"y": "right"}),
    ])), _lookup)


def test_cycle_inside_one_ensemble_is_refused() -> None:
    """Steps that feed each other never get their inputs: the message names the tensors."""
    with pytest.raises(ModelConfigError, match=r"tensors \['p', 'q'\] are never produced"):
        plan_steps(_ensemble(", ".join([
            _step("double", {"x": "p"}, {"y": "q"}),
            _step("join", {"a": "q", "b": "IN"}, {"s": "p"}),
        ])), _lookup)


def test_tensor_written_twice_is_refused() -> None:
    """Two steps writing one tensor is ambiguous."""
    with pytest.raises(ModelConfigError, match=r"'OUT' is written by step 0 .* and by step 1"):
        plan_steps(_ensemble(", ".join([
            _step("double", {"x": "IN"}, {"y": "OUT"}),
            _step("double", {"x": "IN"}, {"y": "OUT"}),
        ])), _lookup)


def test_unproduced_output_and_shape_mismatch() -> None:
    """An ensemble output nobody writes, and one whose dims disagree, are both named."""
    with pytest.raises(ModelConfigError, match="needs tensor 'OUT', which no step produces"):
        plan_steps(_ensemble(_step("double", {"x": "IN"}, {"y": "other"})), _lookup)
    wide = 'output [{ name: "OUT" data_type: TYPE_FP32 dims: [ 5 ] }]'
    with pytest.raises(ModelConfigError, match=r"dims \[-1, 4\] from step 0 .* takes \[-1, 5\]"):
        plan_steps(_ensemble(_step("double", {"x": "IN"}, {"y": "OUT"}), wide), _lookup)


def test_ensemble_cannot_be_its_own_step() -> None:
    """A step naming the ensemble itself is refused before any lookup."""
    with pytest.raises(ModelConfigError, match="cannot be its own step"):
        plan_steps(_ensemble(_step("e", {"IN": "IN"}, {"OUT": "OUT"})), _lookup)
