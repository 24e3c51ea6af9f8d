"""Training progress: a live bar on stderr (steps, tokens/s, ETA, the last epoch's val loss and accuracy),
and one log line per epoch.

The Trainer's own reporting (a tqdm bar, then every log printed as a raw `{'loss': ...}` dict) is
switched off in `ftcot.train.trainer`, and so are transformers' bars for loading weights and
writing each checkpoint (`library_bars_off`); this callback takes their place. Without a terminal, or with
`--no-progress`, there is no bar: only the epoch lines, so that a log file gets one line an epoch.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time

from rich.console import Console
from rich.errors import LiveError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from transformers import TrainerCallback

log = logging.getLogger(__name__)
# Epoch lines are the training's own report: shown even where the root logger keeps only warnings
# (records reach the root's handlers whatever the root's level).
log.setLevel(logging.INFO)


@contextlib.contextmanager
def library_bars_off():
    """transformers' (and huggingface_hub's) tqdm bars off for the duration, then as they were."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def progress_enabled(setting: bool | None) -> bool:
    """The bar is on when asked for, or, unasked, when stderr is a terminal."""
    return setting if setting is not None else sys.stderr.isatty()


class TrainProgress(TrainerCallback):
    """Steps done of all, tokens/s, ETA, the last train loss and the last epoch's val loss / accuracy."""

    def __init__(self, bar: bool):
        self.bar = bar
        self.progress: Progress | None = None
        self.task = None
        self.started = 0.0
        self.tokens_at_start = 0
        self.epoch: dict = {}  # the finished epoch not yet reported: its number, loss, val figures
        self.stats = ""

    # --- Trainer events ---------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.started, self.tokens_at_start = time.perf_counter(), state.num_input_tokens_seen
        if self.bar:
            self.progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("steps"),
                TextColumn("[cyan]{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"),
                console=Console(stderr=True),
            )
            self.task = self.progress.add_task(
                "train", total=state.max_steps, completed=state.global_step, rate="", stats=""
            )
            try:
                self.progress.start()
            except LiveError:  # a caller's own live display holds the terminal: epoch lines only
                self.progress = None

    def on_step_end(self, args, state, control, **kwargs):
        self.refresh(state)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.epoch["epoch"] = round(state.epoch or 0)  # its loss and val figures are logged next

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.epoch["train_loss"] = logs["loss"]

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        self.epoch.update(
            val_loss=metrics.get("eval_loss"),
            val_accuracy=metrics.get("eval_accuracy"),
            val_correct=metrics.get("eval_correct"),
            val_n=metrics.get("eval_n"),
        )
        self.stats = val_text(self.epoch)
        self.refresh(state)

    def on_save(self, args, state, control, **kwargs):
        # Saving closes an epoch's log, evaluate, save sequence (checkpoints are saved each epoch).
        self.report_epoch(state)

    def on_train_end(self, args, state, control, **kwargs):
        self.report_epoch(state)
        if self.progress is not None:
            self.refresh(state)
            self.progress.stop()
            self.progress = None

    # --- output -----------------------------------------------------------------------------------

    def tokens_per_s(self, state) -> float | None:
        seconds = time.perf_counter() - self.started
        tokens = state.num_input_tokens_seen - self.tokens_at_start
        return tokens / seconds if seconds > 0 and tokens else None

    def refresh(self, state) -> None:
        if self.progress is None:
            return
        rate = self.tokens_per_s(state)
        self.progress.update(
            self.task,
            completed=state.global_step,
            rate=f"{rate:,.0f} tok/s" if rate else "",
            stats=self.stats,
        )

    def report_epoch(self, state) -> None:
        if not state.is_world_process_zero or "epoch" not in self.epoch:
            return
        rate = self.tokens_per_s(state)
        parts = [f"epoch {self.epoch['epoch']}/{round(state.num_train_epochs)}"]
        if self.epoch.get("train_loss") is not None:
            parts.append(f"train loss {self.epoch['train_loss']:.4f}")
        if val_text(self.epoch):
            parts.append(val_text(self.epoch))
        if rate:
            parts.append(f"{rate:,.0f} tokens/s")
        parts.append(f"step {state.global_step}/{state.max_steps}")
        log.info(" · ".join(parts))
        self.epoch = {}


def val_text(epoch: dict) -> str:
    """'val loss 1.2345 · val accuracy 18.8% (3/16)', of what the epoch has."""
    parts = []
    if epoch.get("val_loss") is not None:
        parts.append(f"val loss {epoch['val_loss']:.4f}")
    if epoch.get("val_accuracy") is not None:
        parts.append(f"val accuracy {epoch['val_accuracy']:.1f}% ({epoch['val_correct']}/{epoch['val_n']})")
    return " · ".join(parts)
