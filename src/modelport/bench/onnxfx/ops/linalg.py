"""Matrix products: MatMul, Gemm, Einsum."""

from __future__ import annotations

from typing import Any

from modelport.bench.onnxfx.lib import F, torch
from modelport.bench.onnxfx.node import OnnxNode
from modelport.bench.onnxfx.registry import op
from modelport.bench.onnxfx.values import Const, Value


@op("MatMul")
def matmul(n: OnnxNode) -> list[Value]:
    """MatMul with numpy's broadcasting (what torch.matmul does)."""
    return [n.b.call(torch.matmul, n.x(0), n.x(1))]


def gemm(a: Any, b: Any, c: Any, alpha: float, beta: float) -> Any:
    """alpha * a @ b + beta * c, for the attribute values F.linear cannot take."""
    out = torch.matmul(a, b) * alpha
    return out if c is None else out + c * beta


def _bias_vector(c: Value | None, width: int | None) -> bool:
    """True when C is a constant that F.linear can take as its 1-D bias."""
    if c is None:
        return True
    if not isinstance(c, Const) or width is None:
        return False
    shape = tuple(c.tensor.shape)
    return shape in ((width,), (1, width))


@op("Gemm")
def gemm_op(n: OnnxNode) -> list[Value]:
    """Gemm: F.linear for the usual layer (alpha = beta = 1, constant weights), else matmul."""
    a, b, c = n.x(0), n.x(1), n.input(2)
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    if n.attr("transA", 0):
        a = n.b.call(torch.t, a)
    weight = b if n.attr("transB", 0) else n.b.call(torch.t, b)  # folded when b is constant
    width = int(weight.tensor.shape[0]) if isinstance(weight, Const) else None
    if alpha == 1.0 and beta == 1.0 and _bias_vector(c, width):
        bias = None if c is None else n.b.call(torch.reshape, c, [-1])
        return [n.b.call(F.linear, a, weight, bias)]
    plain = b if not n.attr("transB", 0) else n.b.call(torch.t, b)
    return [n.b.call(gemm, a, plain, c, alpha, beta)]


@op("Einsum")
def einsum(n: OnnxNode) -> list[Value]:
    """Einsum with ONNX's equation."""
    equation = n.attr("equation")
    text = equation.decode() if isinstance(equation, bytes) else str(equation)
    operands = [v for v in n.inputs if v is not None]
    return [n.b.call(torch.einsum, text.replace(" ", ""), *operands)]
