"""Reports of runs: `report(run_dirs, out_html, out_md)` writes one self-contained HTML page
(tables like the paper's, plots, a sample browser) and optionally a Markdown summary."""

from __future__ import annotations

from pathlib import Path

from ftcot.redact import note_key_envs, redact_value
from ftcot.report import compare, html, markdown, plots
from ftcot.report.runs import Run, find_runs

__all__ = ["Run", "find_runs", "report"]


def report(
    run_dirs: list[str | Path],
    out_html: str | Path,
    out_md: str | Path | None = None,
    *,
    title: str = "ftcot report",
    note: str = "",
) -> Path:
    """Read the runs under `run_dirs`, write the HTML report (and the Markdown summary); returns the HTML path.

    `note` is shown under the title (e.g. that a quick run used a subset and is not a result)."""
    runs = find_runs(list(run_dirs))
    note_key_envs(
        [run.manifest.model_dump() for run in runs]
    )  # a key read from a variable they name is masked too
    tables = compare.all_tables(runs)
    figures = plots.all_plots(runs)
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    # Runs made before redaction existed may hold a key or a URL password: a report never shows one.
    page = html.render(runs, tables, figures, title=title, note=note)
    out_html.write_text(redact_value(page), encoding="utf-8")
    if out_md is not None:
        summary = markdown.render(runs, tables, [p.title for p in figures], title=title, note=note)
        Path(out_md).parent.mkdir(parents=True, exist_ok=True)
        Path(out_md).write_text(redact_value(summary), encoding="utf-8")
    return out_html
