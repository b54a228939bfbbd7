"""A training spec for ``modelport train``: handwritten digits with a small CNN.

The data is scikit-learn's bundled digits set (1,797 8x8 grey images, no download). 80% train
the model, the other 20% (a fixed, stratified split) are held out for ``evaluate``.

    modelport train examples/train/digits.py --workers 2 --epochs 15 --export models/digits
    python examples/train/digits.py digit.npy      # writes one held-out digit for modelport run
    modelport run digits --repository models --input input=digit.npy
"""

from __future__ import annotations

import sys
from functools import lru_cache

import numpy as np
import torch
from torch import nn

batch_size = 32
_SEED = 7


@lru_cache(maxsize=1)
def _split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # N x 1 x 8 x 8, in [0, 1]
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, random_state=_SEED, stratify=labels)
    return x_train, y_train, x_test, y_test


def model() -> nn.Module:
    """Two 3x3 convolutions, a pooling step and two dense layers (about 150k parameters)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * 4 * 4, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def dataset() -> torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]:
    """The training part of the split: (1x8x8 image, label) pairs."""
    x_train, y_train, _, _ = _split()
    return torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))


def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the ten classes."""
    return nn.functional.cross_entropy(output, target)


def optimizer(parameters: object) -> torch.optim.Optimizer:
    """SGD with momentum."""
    return torch.optim.SGD(parameters, lr=0.05, momentum=0.9)  # type: ignore[arg-type]


def example_input() -> torch.Tensor:
    """Four held-out images: the export checks torch against ONNX Runtime on them."""
    return torch.from_numpy(_split()[2][:4])


def evaluate(trained: nn.Module) -> dict[str, float]:
    """Accuracy on the held-out 20%."""
    _, _, x_test, y_test = _split()
    with torch.no_grad():
        predicted = trained(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    return {"accuracy": float((predicted == y_test).mean()), "held_out": float(len(y_test))}


if __name__ == "__main__":
    # Write one held-out digit as a batch of one, for `modelport run --input input=FILE`.
    _, _, x_test, y_test = _split()
    target = sys.argv[1] if len(sys.argv) > 1 else "digit.npy"
    np.save(target, x_test[:1])
    print(f"wrote {target}: a held-out image of the digit {int(y_test[0])}")
