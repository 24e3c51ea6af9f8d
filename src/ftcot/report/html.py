"""One self-contained HTML page: tables, plots (inline PNG) and a sample browser (plain JS, no network).

The browser shows each evaluated sample with the question, the teacher's rationale for the
same question (when a teacher run is in the report), the student's output and both parsed
answers, and filters them: all, correct, wrong, teacher right but student wrong.
"""

from __future__ import annotations

import html
import json
import time

from ftcot.evaluate import error_category
from ftcot.records import Completion
from ftcot.report.compare import Table
from ftcot.report.plots import Plot
from ftcot.report.runs import Run

MAX_SAMPLES_PER_RUN = 1000  # keeps the page small enough to open fast; the records hold the rest


def teacher_lookup(runs: list[Run]) -> dict[tuple[str, int], Completion]:
    """The teacher's record for each question: a kept (correct) rationale when there is one."""
    best: dict[tuple[str, int], Completion] = {}
    for run in runs:
        if run.kind != "teach":
            continue
        for r in run.records:
            key = (r.task, r.sample_id)
            if key not in best or (r.correct and not best[key].correct):
                best[key] = r
    return best


def sample_rows(runs: list[Run]) -> list[dict]:
    """The browser's data: evaluations' samples (or the teacher's, when there is no evaluation)."""
    teacher = teacher_lookup(runs)
    browsed = [r for r in runs if r.kind == "eval"] or [r for r in runs if r.kind == "teach"]
    rows = []
    for run in browsed:
        for r in run.records[:MAX_SAMPLES_PER_RUN]:
            t = teacher.get((r.task, r.sample_id)) if run.kind == "eval" else None
            rows.append({
                "run": run.name, "task": r.task, "id": r.sample_id, "index": r.sample_index, "method": r.method,
                "question": r.question, "gold": r.gold, "prompt": r.prompt, "rationale": r.rationale,
                "output": r.answer_text, "prediction": r.prediction, "correct": bool(r.correct),
                "finish": r.finish_reason, "error": error_category(r),
                "teacher": None if t is None else {
                    "model": t.model, "rationale": t.rationale, "answer": t.answer_text,
                    "prediction": t.prediction, "correct": bool(t.correct),
                },
            })  # fmt: skip
    return rows


def table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"<h2>{html.escape(table.title)}</h2><div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{note}"


def plots_html(plots: list[Plot]) -> str:
    if not plots:
        return ""
    figures = "".join(
        f'<figure><img class="plot" src="{p.data_uri}" alt="{html.escape(p.title)}"><figcaption>{html.escape(p.title)}</figcaption></figure>'
        for p in plots
    )
    return f"<h2>Plots</h2><div class='plots'>{figures}</div>"


def render(
    runs: list[Run], tables: list[Table], plots: list[Plot], title: str = "ftcot report", note: str = ""
) -> str:
    samples = sample_rows(runs)
    # JSON inside <script>: '<' escaped so that no '</script>' in a model's output can end the block.
    data = json.dumps(samples, ensure_ascii=False).replace("<", "\\u003c")
    run_list = ", ".join(html.escape(f"{r.name} ({r.kind})") for r in runs)
    return (
        PAGE.replace("__TITLE__", html.escape(title))
        .replace("__GENERATED__", time.strftime("%Y-%m-%d %H:%M"))
        .replace("__RUNS__", run_list)
        .replace("__NOTE__", f'<p class="callout">{html.escape(note)}</p>' if note else "")
        .replace("__TABLES__", "".join(table_html(t) for t in tables) or "<p>No scored runs.</p>")
        .replace("__PLOTS__", plots_html(plots))
        .replace("__DATA__", data)
    )


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px;
       padding: 16px 24px; color: #1d2330; background: #fafafa; }
h1 { font-size: 22px; margin-bottom: 2px; } h2 { font-size: 17px; margin-top: 28px; }
.meta, .note { color: #667; font-size: 12px; }
.scroll { overflow-x: auto; }
.callout { background: #fff6d6; border: 1px solid #e8cf73; padding: 6px 10px; border-radius: 4px; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #dde; padding: 3px 8px; text-align: right; white-space: nowrap; }
th { background: #eef1f6; } td:first-child, th:first-child { text-align: left; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; background: #fff; border: 1px solid #dde; padding: 6px; }
figure img { max-width: 540px; display: block; } figcaption { font-size: 12px; color: #667; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0 12px; }
.controls button { border: 1px solid #99a; background: #fff; padding: 4px 10px; border-radius: 14px; cursor: pointer; }
.controls button.active { background: #2f5bd3; border-color: #2f5bd3; color: #fff; }
.sample { background: #fff; border: 1px solid #dde; border-left: 5px solid #c33; border-radius: 4px;
          padding: 8px 12px; margin-bottom: 10px; }
.sample.correct { border-left-color: #2a8a3e; }
.sample header { display: flex; gap: 10px; align-items: baseline; font-size: 12px; color: #556; }
.badge { font-weight: 600; padding: 0 6px; border-radius: 8px; background: #fde2e2; color: #a11; }
.correct .badge { background: #ddf3e1; color: #16692b; }
.label { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #778; margin-top: 6px; }
.text { white-space: pre-wrap; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px;
        background: #f4f5f8; padding: 4px 8px; border-radius: 3px; }
.answers { font-size: 13px; margin-top: 6px; } .answers b { font-family: ui-monospace, monospace; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 800px) { .cols { grid-template-columns: 1fr; } }
</style></head>
<body>
<h1>__TITLE__</h1>
<div class="meta">Generated __GENERATED__ · runs: __RUNS__</div>
__NOTE__
__TABLES__
__PLOTS__
<h2>Samples</h2>
<div class="controls">
  <select id="run-select"><option value="">all runs</option></select>
  <button id="filter-all" data-filter="all" class="active">all</button>
  <button id="filter-correct" data-filter="correct">correct</button>
  <button id="filter-wrong" data-filter="wrong">wrong</button>
  <button id="filter-teacher-right-student-wrong" data-filter="teacher-right-student-wrong">teacher right, student wrong</button>
  <input id="search" type="search" placeholder="search question or output">
  <span id="sample-count" class="meta"></span>
</div>
<div id="samples"></div>
<button id="more" hidden>show more</button>
<script id="samples-data" type="application/json">__DATA__</script>
<script>
"use strict";
const SAMPLES = JSON.parse(document.getElementById("samples-data").textContent);
const FILTERS = {
  "all": s => true,
  "correct": s => s.correct,
  "wrong": s => !s.correct,
  "teacher-right-student-wrong": s => s.teacher !== null && s.teacher.correct && !s.correct,
};
const PAGE_SIZE = 100;
const state = {filter: "all", run: "", query: "", shown: PAGE_SIZE};

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function block(label, text) {
  const wrap = el("div");
  const raw = text === null || text === undefined ? "" : String(text);
  const shown = raw === "" ? "—" : raw.trim() === "" ? "(whitespace only)" : raw.trim();
  wrap.append(el("div", "label", label), el("div", "text", shown));
  return wrap;
}

function card(s) {
  const node = el("article", "sample" + (s.correct ? " correct" : ""));
  const head = el("header");
  head.append(el("span", "badge", s.correct ? "correct" : "wrong"),
              el("span", null, `${s.run} · ${s.task} #${s.id}` + (s.index ? ` · sample ${s.index}` : "")),
              el("span", null, s.method), el("span", null, s.finish === "length" ? "truncated" : ""),
              el("span", null, s.error ? `error: ${s.error}` : ""));
  node.append(head, block("question", s.question));
  const cols = el("div", "cols");
  const teacher = el("div");
  if (s.teacher) {
    teacher.append(block(`teacher rationale (${s.teacher.model})`, s.teacher.rationale),
                   block("teacher answer", s.teacher.answer));
  } else {
    teacher.append(block("teacher rationale", "no teacher run for this question in the report"));
  }
  const student = el("div");
  if (s.rationale !== null && s.method === "zs_cot") student.append(block("student rationale", s.rationale));
  student.append(block(s.method === "zs_cot" ? "student answer" : "student output", s.output));
  cols.append(teacher, student);
  node.append(cols);
  const answers = el("div", "answers");
  answers.append("gold ", el("b", null, s.gold), " · student ", el("b", null, s.prediction ?? "none"));
  if (s.teacher) answers.append(" · teacher ", el("b", null, s.teacher.prediction ?? "none"),
                                s.teacher.correct ? " (right)" : " (wrong)");
  node.append(answers);
  return node;
}

function matching() {
  const q = state.query.toLowerCase();
  return SAMPLES.filter(s => FILTERS[state.filter](s) && (!state.run || s.run === state.run) &&
    (!q || s.question.toLowerCase().includes(q) || s.output.toLowerCase().includes(q)));
}

function render() {
  const found = matching();
  const list = document.getElementById("samples");
  list.replaceChildren(...found.slice(0, state.shown).map(card));
  document.getElementById("sample-count").textContent = `showing ${Math.min(found.length, state.shown)} of ${found.length} (${SAMPLES.length} in all)`;
  document.getElementById("more").hidden = found.length <= state.shown;
  document.querySelectorAll("[data-filter]").forEach(b => b.classList.toggle("active", b.dataset.filter === state.filter));
}

const runSelect = document.getElementById("run-select");
[...new Set(SAMPLES.map(s => s.run))].forEach(name => runSelect.append(new Option(name, name)));
runSelect.addEventListener("change", () => { state.run = runSelect.value; state.shown = PAGE_SIZE; render(); });
document.querySelectorAll("[data-filter]").forEach(b => b.addEventListener("click", () => {
  state.filter = b.dataset.filter; state.shown = PAGE_SIZE; render();
}));
document.getElementById("search").addEventListener("input", e => { state.query = e.target.value; state.shown = PAGE_SIZE; render(); });
document.getElementById("more").addEventListener("click", () => { state.shown += PAGE_SIZE; render(); });
render();
</script>
</body></html>
"""
