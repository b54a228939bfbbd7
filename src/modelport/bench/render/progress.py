"""A rich progress display fed by the events of the runtime processes."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class BenchProgress:
    """One bar per runtime: its phase, then measured calls against the minimum duration."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self.tasks: dict[str, Any] = {}
        self.min_duration = 1.0

    def __enter__(self) -> BenchProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def __call__(self, runtime: str, event: dict[str, Any]) -> None:
        """Update the bar of ``runtime`` from one worker event."""
        if runtime not in self.tasks:
            self.tasks[runtime] = self.progress.add_task(runtime, total=1.0, detail="")
        task = self.tasks[runtime]
        kind = event.get("event")
        if kind == "phase":
            self.progress.update(task, completed=0.0, detail=event.get("text", ""))
        elif kind == "progress":
            done = min(event.get("elapsed", 0.0) / max(self.min_duration, 1e-9), 1.0)
            detail = f"batch {event.get('batch_size')}: {event.get('count')} calls"
            self.progress.update(task, completed=done, detail=detail)
        elif kind == "done":
            self.progress.update(task, completed=1.0, detail="done")
