"""A model's trainable state as one float32 vector: what travels through Ray's object store.

The vector holds the trainable parameters, then the floating-point buffers (BatchNorm's running
statistics). Parameters and buffers become views into it, so loading a published state is one
copy and reading it back is one copy. Workers send gradients in the same layout, with their
buffers' new values in the buffer part. The parameters' ``.grad`` are views into a second
vector of that layout, so backward writes the gradient where it is sent from.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from modelport.errors import SpecError


class FlatModel:
    """A torch module whose parameters and float buffers live in one contiguous vector."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.buffers = [b for b in module.buffers() if b.is_floating_point()]
        for t in (*self.params, *self.buffers):
            if t.dtype != torch.float32:
                raise SpecError(f"model() has a {t.dtype} parameter or buffer; modelport train "
                                "moves float32 weights: build the model in float32")
        self.param_size = sum(p.numel() for p in self.params)
        self.size = self.param_size + sum(b.numel() for b in self.buffers)
        self.vector = torch.empty(self.size, dtype=torch.float32)
        offset = 0
        for t in (*self.params, *self.buffers):
            n = t.numel()
            self.vector[offset:offset + n].copy_(t.detach().reshape(-1))
            t.data = self.vector[offset:offset + n].view_as(t)
            offset += n
        self.grad_vector = torch.zeros(self.size, dtype=torch.float32)
        offset = 0
        for p in self.params:
            p.grad = self.grad_vector[offset:offset + p.numel()].view_as(p)
            offset += p.numel()
        self._grad_pointers = [p.grad.data_ptr() for p in self.params if p.grad is not None]

    @property
    def param_vector(self) -> torch.Tensor:
        """The parameter part of the vector (a view)."""
        return self.vector[:self.param_size]

    @property
    def buffer_vector(self) -> torch.Tensor:
        """The buffer part of the vector (a view)."""
        return self.vector[self.param_size:]

    def load(self, state: Any) -> None:
        """Copy a published state (a numpy vector, possibly read-only) into the model."""
        if isinstance(state, np.ndarray) and state.ctypes.data == self.vector.data_ptr():
            return  # it was received in place
        np.copyto(self.vector.numpy(), state)

    def state(self) -> np.ndarray:
        """A copy of the state vector."""
        copy: np.ndarray = self.vector.numpy().copy()
        return copy

    def gradient(self) -> np.ndarray:
        """The parameters' gradients followed by the buffers' current values, as one vector.

        The vector is the model's own gradient buffer, valid until the next ``zero_grad``.
        """
        out: np.ndarray = self.grad_vector.numpy()
        views = [p.grad.data_ptr() if p.grad is not None else 0 for p in self.params]
        if views != self._grad_pointers:  # something replaced a .grad: gather them again
            for p, pointer in zip(self.params, self._grad_pointers, strict=True):
                if p.grad is None or p.grad.data_ptr() != pointer:
                    grad = p.grad
                    start = (pointer - self.grad_vector.data_ptr()) // 4
                    view = self.grad_vector[start:start + p.numel()].view_as(p)
                    if grad is None:
                        view.zero_()
                    else:
                        view.copy_(grad)
                    p.grad = view
        out[self.param_size:] = self.buffer_vector.numpy()
        return out

    def zero_grad(self) -> None:
        """Zero the gradients before a backward pass."""
        self.grad_vector.zero_()
