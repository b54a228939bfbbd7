"""``modelport train``: PyTorch training spread over Ray workers, handed to a model server.

Two strategies share one spec file and one command line:

- ``ps`` (default): the driver is a dispatcher (``dispatcher.py``) that hands gradient tasks
  to worker actors (``worker.py``) without blocking on any one of them; an aggregator actor
  (``aggregator.py``) merges their gradients, steps the optimizer, checkpoints, and publishes
  the new weights as one object per step. Synchronous, or bounded-stale with ``--staleness``.
- ``ddp``: Ray Train's TorchTrainer (``ddp.py``), standard data-parallel with gloo or NCCL.

``job.train(config)`` runs a job; ``export.py`` writes the result as the next ONNX version of a
model repository. Only ``cluster.py`` (Ray Core) and ``ddp.py`` (Ray Train) import ray; this
package's ``__init__`` imports neither ray nor torch.
"""
