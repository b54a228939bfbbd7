"""The demo ensemble: image_preprocess then resnet18, one request from pixels to classes.

Its config is Triton's ensemble config; it has no graph of its own. The labels file gives the
classification extension names for resnet18's 1000 outputs (the weights are random, so the
names are placeholders: ``class_000`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.repository.demo import preprocess, resnet


@dataclass(frozen=True)
class DemoEnsemble:
    """One demo ensemble: its name, config.pbtxt and label file."""

    name: str
    config_text: str
    labels_file: str
    labels: tuple[str, ...]


CLASSIFY_IMAGE = DemoEnsemble(
    name="classify_image",
    config_text=f"""name: "classify_image"
platform: "ensemble"
max_batch_size: 16
input [
  {{
    name: "pixels"
    data_type: TYPE_UINT8
    dims: [ {preprocess.SIZE}, {preprocess.SIZE}, 3 ]
  }}
]
output [
  {{
    name: "logits"
    data_type: TYPE_FP32
    dims: [ {resnet.NUM_CLASSES} ]
    label_filename: "labels.txt"
  }}
]
ensemble_scheduling {{
  step [
    {{
      model_name: "image_preprocess"
      model_version: -1
      input_map {{ key: "pixels" value: "pixels" }}
      output_map {{ key: "image" value: "image" }}
    }},
    {{
      model_name: "resnet18"
      model_version: -1
      input_map {{ key: "input" value: "image" }}
      output_map {{ key: "logits" value: "logits" }}
    }}
  ]
}}
""",
    labels_file="labels.txt",
    labels=tuple(f"class_{i:03d}" for i in range(resnet.NUM_CLASSES)),
)

ENSEMBLES = (CLASSIFY_IMAGE,)
