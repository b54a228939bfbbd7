"""The training progress bar: steps, steps/s, loss and workers alive, on stderr."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelport.train.messages import StepEvent


class TrainProgress:
    """One bar for the job; a step event updates it, a note prints a line above it."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]train[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} steps/s  loss {task.fields[loss]}  "
                       "workers {task.fields[alive]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not enabled,
            transient=False,
        )
        self.enabled = enabled
        self.task = self.progress.add_task("train", total=None, rate="-", loss="-", alive="-")
        self._first: tuple[float, int] | None = None

    def __enter__(self) -> TrainProgress:
        return self  # the bar appears with the first line or step, not for early errors

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.progress.live.is_started:
            self.progress.stop()

    def _start(self) -> None:
        if not self.progress.live.is_started:
            self.progress.start()

    def note(self, text: str) -> None:
        """Print one line above the bar."""
        if self.enabled:
            self._start()
            self.progress.console.print(text)

    def __call__(self, event: StepEvent) -> None:
        """Show one step event."""
        self._start()
        now = time.monotonic()
        if self._first is None:
            self._first = (now, event.step)
        start_time, start_step = self._first
        rate = (event.step - start_step) / (now - start_time) if now > start_time else 0.0
        alive = f"{event.alive}/{event.workers}" + (" (restarting)" if event.alive < event.workers
                                                    else "")
        self.progress.update(self.task, total=event.total, completed=event.step,
                             rate=f"{rate:.1f}", loss=f"{event.loss:.4f}", alive=alive)
