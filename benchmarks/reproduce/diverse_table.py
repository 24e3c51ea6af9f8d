"""Accuracy against the diverse degree D: teacher yield and student accuracy per D.

Reads a `ftcot run benchmarks/reproduce/diverse_cpu.toml` (or recipes/diverse_live.toml)
run folder and writes a Markdown table.

    python benchmarks/reproduce/diverse_table.py runs/diverse --out benchmarks/reproduce/diverse.md
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path


def _d(name: str) -> int | None:
    match = re.search(r"-D(\d+)-", name + "-")
    return int(match.group(1)) if match else None


def rows(run_dir: Path) -> list[dict]:
    by_d: dict[int, dict] = {}
    for manifest_path in run_dir.glob("curate/*/manifest.json"):
        d = _d(manifest_path.parent.name)
        stats = json.loads(manifest_path.read_text()).get("yield", {})
        by_d.setdefault(d, {})["training_rows"] = stats.get("train_rows_with_rationale")
        by_d[d]["questions_covered"] = (
            f"{stats.get('train_questions_covered')}/{stats.get('train_questions')}"
        )
    for teach_path in run_dir.glob("teach/*/completions.jsonl"):
        d = _d(teach_path.parent.name)
        records = [json.loads(line) for line in teach_path.read_text().splitlines() if line.strip()]
        by_d.setdefault(d, {})["teacher_rationales"] = len(records)
        by_d[d]["teacher_correct"] = sum(bool(r.get("correct")) for r in records)
    for metrics_path in run_dir.glob("eval/*/metrics.json"):
        d = _d(metrics_path.parent.name)
        metrics = json.loads(metrics_path.read_text())
        by_d.setdefault(d, {}).update(accuracy=metrics["accuracy"], n=metrics["n"], ci95=metrics["ci95"])
    return [{"D": d, **v} for d, v in sorted(by_d.items())]


def render(table: list[dict]) -> str:
    lines = [
        "| D | teacher rationales | correct | training rows | train questions covered | student accuracy (95% CI) | n |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table:
        acc = f"{r['accuracy']:.1f} ({r['ci95'][0]:.0f}–{r['ci95'][1]:.0f})" if "accuracy" in r else "–"
        lines.append(
            f"| {r['D']} | {r.get('teacher_rationales', '–')} | {r.get('teacher_correct', '–')} | "
            f"{r.get('training_rows', '–')} | {r.get('questions_covered', '–')} | {acc} | {r.get('n', '–')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reproduce/diverse.md"))
    args = parser.parse_args()
    table = rows(args.run_dir)
    text = render(table)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
