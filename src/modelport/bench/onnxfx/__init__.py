"""modelport's own ONNX to torch.fx converter, for the torch and torch.compile benchmark runtimes.

Why not onnx2torch: its last release converts no ``ReduceMean`` at opset 18 and no ``Shape`` at
opset 19, which is what ``torch.onnx.export`` writes today, and it requires torchvision, whose
PyPI wheel does not import next to a CPU build of torch. This converter needs torch alone.

How it works: every value of the ONNX graph becomes one of three things while converting
(:mod:`.values`): a constant tensor known now (initializers, ``Constant`` nodes, and anything
computed only from them, which is folded on the spot), a shape vector whose items are Python ints
or sizes read at run time (``Shape`` and the arithmetic exporters build on it), or a node of the
torch.fx graph. Shape arithmetic therefore ends up as ``x.size(1)`` and Python ints passed
straight to ``reshape``, never as tensors turned back into lists, so ``torch.compile`` sees one
graph with no break. Operators live in :mod:`.ops`, one module per family, registered by name.
"""

from __future__ import annotations

from modelport.bench.onnxfx.convert import convert, convert_file, unsupported_ops

__all__ = ["convert", "convert_file", "unsupported_ops"]
