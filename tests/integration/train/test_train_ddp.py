"""--strategy ddp (Ray Train TorchTrainer, gloo): the same weights as one process with N*b."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from support.training import reference_state

pytestmark = [
    pytest.mark.usefixtures("local_ray"),
    # Ray Data, imported in-process by Ray Train's driver, warns about its own deprecated
    # options when it builds its context; not ours to fix.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def test_ddp_two_workers_equals_one_process_with_double_batch(tiny_spec: Path,
                                                              tmp_path: Path) -> None:
    """2 gloo ranks x batch 8 for 10 steps give the weights of one process with batch 16."""
    pytest.importorskip("pyarrow")
    from modelport.train.config import TrainConfig, WorkerRange
    from modelport.train.ddp import run_ddp
    from modelport.train.job import prepare

    config = TrainConfig(spec=tiny_spec, workers=WorkerRange(2, 2), steps=10, batch_size=8,
                         strategy="ddp", checkpoint_every=4)
    outcome = run_ddp(config, prepare(config), tmp_path, lambda e: None, lambda t: None)
    expected = reference_state(tiny_spec, workers=2, batch=8, steps=10)
    assert outcome.steps == 10
    np.testing.assert_allclose(outcome.state, expected, atol=1e-5, rtol=0)
