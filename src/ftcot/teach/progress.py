"""The teacher's progress bar: samples done, rate, ETA, cache hits, retries and spend (on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s", style="cyan")


class TeachProgress:
    def __init__(self, total: int, done: int, engine, enabled: bool = True, label: str = "teach"):
        self.engine = engine
        self.enabled = enabled and total > 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=Console(stderr=True),
            disable=not self.enabled,
        )
        self.task = self.progress.add_task(label, total=total, completed=done, stats="")

    def __enter__(self) -> TeachProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.advance(0)
        self.progress.stop()

    def advance(self, n: int = 1) -> None:
        self.progress.update(self.task, advance=n, stats=self.stats_text())

    def stats_text(self) -> str:
        cache = self.engine.cache.stats
        throttle = self.engine.throttle.stats
        spent = self.engine.costs.spent if self.engine.costs.price is not None else None
        money = f"${spent:.4f}" if spent is not None else "$?"
        return f"cache {cache.hits} hit · {self.engine.requests} req · {throttle.retries} retries · {money}"
