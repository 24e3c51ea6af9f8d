"""The paper's plots, drawn from whatever the runs' manifests hold (matplotlib, no display needed).

Accuracy against the diverse degree D, the training-set size and the student size (one line
per task and method), and training curves (loss, validation accuracy) per epoch. A plot is
drawn only when its data has at least two x values; each comes back as PNG bytes.
"""

from __future__ import annotations

import base64
import io
from collections import defaultdict
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from ftcot.report.compare import size  # noqa: E402
from ftcot.report.runs import Run, epoch_history  # noqa: E402


@dataclass
class Plot:
    title: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def accuracy_against(
    runs: list[Run], x_of, line_of, xlabel: str, title: str, log_x: bool = False
) -> Plot | None:
    """Accuracy of evaluations against a number each run knows (x_of(run)), one line per line_of(run)."""
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        x = x_of(run) if run.kind == "eval" else None
        if x is not None and run.metrics:
            lines[line_of(run)].append((float(x), run.metrics["accuracy"]))
    lines = {label: sorted(points) for label, points in lines.items() if len({x for x, _ in points}) >= 2}
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for label, points in sorted(lines.items()):
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o", label=label)
    if log_x:
        ax.set_xscale("log", base=2 if xlabel.startswith("diverse") else 10)
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Plot(title, _png(fig))


def training_curves(run: Run) -> Plot | None:
    """Loss (left axis) and accuracy (right axis) per epoch of one training run."""
    series = {k: v for k, v in epoch_history(run).items() if len(v) >= 2}
    if not series:
        return None
    fig, loss_ax = plt.subplots(figsize=(5.2, 3.4))
    acc_ax = None
    for key, points in sorted(series.items()):
        xs, ys = zip(*points, strict=True)
        if "acc" in key:
            acc_ax = acc_ax or loss_ax.twinx()
            acc_ax.plot(xs, ys, marker="s", linestyle="--", color="tab:green", label=key)
        else:
            loss_ax.plot(xs, ys, marker="o", label=key)
    loss_ax.set(xlabel="epoch", ylabel="loss", title=f"Training: {run.label}")
    loss_ax.grid(alpha=0.3)
    handles, labels = loss_ax.get_legend_handles_labels()
    if acc_ax is not None:
        acc_ax.set_ylabel("accuracy")
        more = acc_ax.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    loss_ax.legend(handles, labels, fontsize=8, loc="center right")
    return Plot(f"Training: {run.label}", _png(fig))


def _student(run: Run) -> str:
    """A line's label: task, method and student size, so that different students are not joined."""
    return f"{run.task} · {run.method} · {size(run.params)}"


def _degree(run: Run) -> str:
    return f"{run.task} · {run.method}" + (f" · D={run.diverse_degree}" if run.diverse_degree else "")


def all_plots(runs: list[Run]) -> list[Plot]:
    plots = [
        accuracy_against(
            runs,
            lambda r: r.diverse_degree,
            _student,
            "diverse degree D",
            "Accuracy vs diverse reasoning",
            True,
        ),
        accuracy_against(
            runs,
            lambda r: r.train_questions,
            _student,
            "training questions",
            "Accuracy vs training-set size",
            True,
        ),
        accuracy_against(
            runs, lambda r: r.params, _degree, "student parameters", "Accuracy vs student size", True
        ),
        *(training_curves(run) for run in runs if run.kind == "train"),
    ]
    return [p for p in plots if p is not None]
