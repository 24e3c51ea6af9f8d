"""Markdown summary of runs, for terminals and READMEs."""

from __future__ import annotations

from ftcot.report.compare import Table
from ftcot.report.runs import Run


def metrics_lines(metrics: dict) -> list[str]:
    """A few lines for one evaluation's metrics.json."""
    low, high = metrics["ci95"]
    lines = [
        f"accuracy        {metrics['accuracy']:.2f}%  ({metrics['correct']}/{metrics['n']}, 95% CI {low:.1f}–{high:.1f})",
        f"contains_answer {metrics['contains_answer']:.2f}%",
        f"correct_format  {metrics['correct_format']:.2f}%",
        f"complete        {metrics['complete']:.2f}%",
    ]
    if "maj_at_k" in metrics:
        m = metrics["maj_at_k"]
        lines.append(f"maj@{m['k']}           {m['accuracy']:.2f}%  ({m['correct']}/{m['n']} questions)")
    if metrics.get("errors"):
        lines.append("wrong answers   " + ", ".join(f"{k} {v}" for k, v in metrics["errors"].items()))
    return lines


def table_markdown(table: Table) -> str:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    lines = [f"### {table.title}", "", row(table.columns), row(["---"] * len(table.columns))]
    lines += [row(r) for r in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def render(
    runs: list[Run], tables: list[Table], plot_titles: list[str], title: str = "ftcot report", note: str = ""
) -> str:
    lines = [f"# {title}", ""]
    if note:
        lines += [f"> {note}", ""]
    lines += ["Runs: " + ", ".join(f"`{r.name}` ({r.kind})" for r in runs), ""]
    lines += [table_markdown(t) + "\n" for t in tables]
    if plot_titles:
        lines.append("Plots in the HTML report: " + "; ".join(plot_titles) + ".")
    return "\n".join(lines).rstrip() + "\n"
