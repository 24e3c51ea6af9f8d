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


DIVERSE_TITLE = "Accuracy vs diverse reasoning"
SIZE_TITLE = "Accuracy vs training-set size"


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def curve_points(runs: list[Run], x_of, line_of) -> dict[str, list[tuple[float, float, tuple[float, float]]]]:
    """{line label: sorted (x, accuracy, 95% interval)} of the evaluations with an x, for lines of two x or more."""
    lines: dict[str, list[tuple[float, float, tuple[float, float]]]] = defaultdict(list)
    for run in runs:
        x = x_of(run) if run.kind == "eval" else None
        if x is not None and run.metrics:
            lines[line_of(run)].append((float(x), run.metrics["accuracy"], _interval(run)))
    return {label: sorted(points) for label, points in lines.items() if len({x for x, _, _ in points}) >= 2}


def accuracy_against(
    runs: list[Run], x_of, line_of, xlabel: str, title: str, log_x: bool = False, references: bool = False
) -> Plot | None:
    """Accuracy of evaluations against a number each run knows (x_of(run)), one line per line_of(run):
    every run a point with its 95% interval, the line through the mean of runs at the same x (seeds).
    With `references`, each task's other evaluations (the vanilla baseline, trained at one D; the
    teacher's Zero-shot-CoT, at none) are drawn as horizontal lines to compare against."""
    lines = curve_points(runs, x_of, line_of)
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    for label, points in sorted(lines.items()):
        xs = sorted({x for x, _, _ in points})
        means = [sum(y for x2, y, _ in points if x2 == x) / sum(x2 == x for x2, _, _ in points) for x in xs]
        (line,) = ax.plot(xs, means, marker="o", label=label)
        ys = [y for _, y, _ in points]
        errors = [[y - low for _, y, (low, _) in points], [high - y for _, y, (_, high) in points]]
        ax.errorbar(
            [x for x, _, _ in points],
            ys,
            yerr=errors,
            fmt="none",
            ecolor=line.get_color(),
            alpha=0.5,
            capsize=3,
        )
    if references:  # same task, not on a drawn line: vanilla (one D), the teacher (no D)
        tasks = {label.split(" · ")[0] for label in lines}
        for run in runs:
            drawn = x_of(run) is not None and line_of(run) in lines
            reference = not run.is_student or run.method == "vanilla"  # not another axis's student
            if run.kind == "eval" and run.metrics and not drawn and reference and run.task in tasks:
                ax.axhline(run.metrics["accuracy"], linestyle="--", linewidth=1, color="gray", alpha=0.8)
                ax.annotate(f"{run.label} {run.metrics['accuracy']:.1f}", (0.01, run.metrics["accuracy"]),
                            xycoords=("axes fraction", "data"), fontsize=7, color="dimgray", va="bottom")  # fmt: skip
    if log_x:
        ax.set_xscale("log", base=2 if xlabel.startswith("diverse") else 10)
        xs = sorted({x for points in lines.values() for x, _, _ in points})
        if len(xs) <= 8:  # label the measured values themselves (1, 2, 4, 8), not powers
            ax.set_xticks(xs, [f"{x:g}" if x < 1e5 else f"{x:.0e}" for x in xs])
            ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel="accuracy (%, 95% CI)", title=title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(
        fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.18), frameon=False
    )  # below: lines and references stay visible
    return Plot(title, _png(fig))


def _interval(run: Run) -> tuple[float, float]:
    accuracy = run.metrics["accuracy"]
    low, high = run.metrics.get("ci95") or (accuracy, accuracy)
    return float(low), float(high)


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


def _decoding(run: Run) -> str:
    calculator = run.kind == "eval" and getattr(run.manifest, "calculator", None)
    return " · calculator" if calculator else ""


def line_label(axis: str):
    """A line's label for a plot against `axis` ("diverse", "questions" or "params"): every property that
    tells students apart but the plotted one, so that runs differing in anything else (D, training
    questions, size, teacher, calculator) are never joined into one line or averaged as seeds."""

    def label(run: Run) -> str:
        parts = [run.task, run.method]
        if axis != "params":
            parts.append(size(run.params))
        if axis != "diverse" and run.diverse_degree:
            parts.append(f"D={run.diverse_degree}")
        if axis != "questions" and run.train_questions:
            parts.append(f"{run.train_questions} questions")
        if run.dataset.teacher_model or run.dataset.teacher:
            parts.append(f"teacher {run.dataset.teacher_model or run.dataset.teacher}")
        return " · ".join(parts) + _decoding(run)

    return label


def all_plots(runs: list[Run]) -> list[Plot]:
    plots = [
        accuracy_against(
            runs,
            lambda r: r.diverse_degree,
            line_label("diverse"),
            "diverse degree D",
            DIVERSE_TITLE,
            True,
            references=True,
        ),
        accuracy_against(
            runs,
            lambda r: r.train_questions,
            line_label("questions"),
            "training questions",
            SIZE_TITLE,
            True,
        ),
        accuracy_against(
            runs,
            lambda r: r.params,
            line_label("params"),
            "student parameters",
            "Accuracy vs student size",
            True,
        ),
        *(training_curves(run) for run in runs if run.kind == "train"),
    ]
    return [p for p in plots if p is not None]
