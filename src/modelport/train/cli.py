"""``modelport train``: argument parsing into a TrainConfig; the work happens in ``job.train``.

modelport train SPEC.py [--workers N|MIN:MAX] [--epochs E | --steps S] [--strategy ps|ddp]
                [--staleness K] [--address auto|HOST:PORT|ray://...] [--checkpoint-dir DIR]
                [--data-plane socket|ray]
                [--export REPO/NAME [--serve-url URL]] [--json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  modelport train examples/train/digits.py --workers 2 --epochs 10
  modelport train spec.py --workers 2:4 --staleness 2 --checkpoint-dir ckpt
  modelport train spec.py --workers 4 --steps 500 --export models/mymodel
  modelport train spec.py --strategy ddp --workers 2 --export models/mymodel \\
      --serve-url http://127.0.0.1:8000
"""


def add_parser(subparsers: Any) -> None:
    """Register ``modelport train``."""
    p = subparsers.add_parser(
        "train",
        help="train a PyTorch spec on Ray workers and hand the model to a server",
        description=(
            "Train the model of a training spec (a .py file defining model(), dataset() and "
            "loss()) on workers spread by Ray: a dispatcher, gradient workers and an aggregator "
            "(--strategy ps), or Ray Train's data-parallel TorchTrainer (--strategy ddp). "
            "Starts an embedded local Ray unless --address is given. Needs "
            "pip install 'modelport[train]'."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("spec", type=Path, metavar="SPEC", help="the training spec (.py)")
    g = p.add_argument_group("job")
    g.add_argument("--workers", default="1", metavar="N|MIN:MAX",
                   help="workers, or an elastic range (default 1)")
    g.add_argument("--epochs", type=int, default=1, metavar="E", help="passes over the data (1)")
    g.add_argument("--steps", type=int, default=0, metavar="S", help="optimizer steps "
                   "(overrides --epochs)")
    g.add_argument("--batch-size", type=int, default=0, metavar="B",
                   help="samples per worker per step (default: the spec's batch_size, or 32)")
    g.add_argument("--strategy", choices=("ps", "ddp"), default="ps",
                   help="ps: parameter server on Ray Core (default); ddp: Ray Train TorchTrainer")
    g.add_argument("--staleness", type=int, default=0, metavar="K",
                   help="ps: let workers run up to K steps ahead of the slowest (0: synchronous)")
    g.add_argument("--seed", type=int, default=0, help="seed of weights and data order (0)")
    c = p.add_argument_group("cluster and faults")
    c.add_argument("--address", default=None, metavar="ADDR",
                   help="join a Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                        "(default: an embedded local Ray)")
    c.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="C",
                   help="Ray CPUs per worker, also its torch threads (1)")
    c.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                   help="checkpoint folder (default: a temporary one)")
    c.add_argument("--checkpoint-every", type=int, default=50, metavar="N",
                   help="steps between checkpoints (50)")
    c.add_argument("--resume", action="store_true", help="continue from --checkpoint-dir")
    c.add_argument("--data-plane", choices=("socket", "ray"), default="socket",
                   help="ps, synchronous: weights and gradients over a direct socket from each "
                        "worker to the aggregator (default), or through Ray's object store")
    c.add_argument("--step-timeout", type=float, default=300.0, metavar="S",
                   help="give up when lost workers block a step this long (300)")
    o = p.add_argument_group("hand-off and output")
    o.add_argument("--export", default=None, metavar="REPO/NAME",
                   help="write the model as ONNX into the next version folder of REPO/NAME")
    o.add_argument("--tolerance", type=float, default=1e-4, metavar="T",
                   help="largest torch vs ONNX Runtime difference accepted (1e-4)")
    o.add_argument("--serve-url", default=None, metavar="URL",
                   help="load the exported model on this server (explicit model control)")
    o.add_argument("--serve-token", default=None, metavar="TOKEN",
                   help="bearer token of the server's control plane")
    o.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    p.set_defaults(func=command)


def config_from(args: argparse.Namespace) -> Any:
    """Build the TrainConfig of parsed arguments.

    Raises:
        ConfigError: a value is invalid.
    """
    from modelport.train.config import ExportTarget, TrainConfig, WorkerRange

    return TrainConfig(
        spec=args.spec, workers=WorkerRange.parse(args.workers), steps=args.steps,
        epochs=args.epochs, batch_size=args.batch_size, strategy=args.strategy,
        staleness=args.staleness, seed=args.seed, address=args.address,
        checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
        resume=args.resume, export=ExportTarget.parse(args.export) if args.export else None,
        serve_url=args.serve_url, serve_token=args.serve_token,
        cpus_per_worker=args.cpus_per_worker, step_timeout=args.step_timeout,
        tolerance=args.tolerance, data_plane=args.data_plane)


def command(args: argparse.Namespace) -> int:
    """Run ``modelport train``; returns the exit code."""
    from modelport.train.job import train
    from modelport.train.progress import TrainProgress

    config = config_from(args)
    with TrainProgress(enabled=not args.json) as progress:
        summary = train(config, on_step=progress, note=progress.note)
    if args.json:
        print(summary.to_json())
    else:
        for line in summary.lines():
            print(line)
    sys.stdout.flush()
    return 0
