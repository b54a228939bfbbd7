"""A BYTES (string tensor) demo model: upper-case every element with StringNormalizer.

ONNX Runtime's StringNormalizer builds a C++ locale from the node's ``locale`` attribute when the
session starts, and fails if that locale is not installed. Its default, en_US.UTF-8, is missing
from many containers, so the model names C.UTF-8, which glibc ships built in. Case mapping is one
code point to one code point: "ß" stays "ß" (Python's str.upper() would give "SS").
"""

from __future__ import annotations

import onnx

from modelport.repository.demo.config import DemoConfig, TensorSpec
from modelport.repository.demo.graph import GraphBuilder

LOCALE = "C.UTF-8"

CONFIG = DemoConfig(
    name="text_upper",
    max_batch_size=0,
    inputs=(TensorSpec("text", "BYTES", ("count",)),),
    outputs=(TensorSpec("upper", "BYTES", ("count",)),),
)


def build_text_upper() -> onnx.ModelProto:
    """The text_upper demo model: ``text`` string [count] -> ``upper`` string [count].

    ONNX Runtime rejects an empty tensor (count 0) at run time.
    """
    g = GraphBuilder(CONFIG)
    g.op("StringNormalizer", "text", out="upper", case_change_action="UPPER", locale=LOCALE)
    return g.build("Upper-cases each UTF-8 string of a 1-D string tensor (modelport demo).")
