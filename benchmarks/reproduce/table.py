"""The reproduction table: our SmolLM2-135M students beside the paper's small students.

Reads the eval stages of a `ftcot run src/ftcot/recipes/reproduce.toml` run folder and
writes a Markdown table (and JSON) with the paper's numbers (paper.md, test accuracy %)
for GPT-3 0.3B, GPT-2 124M and Flan-T5 60M.

    python benchmarks/reproduce/table.py runs/reproduce --out benchmarks/reproduce/results.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TASKS = ["single_eq", "addsub", "multiarith", "last_letter_concatenation", "coin_flip"]
TITLES = ["SingleEq", "AddSub", "MultiArith", "Last Letter", "Coin Flip"]

# The paper's Table (student results on the test splits), in TASKS order.
PAPER = {
    ("GPT-3 0.3B", "vanilla"): [9.87, 8.40, 8.89, 28.67, 100],
    ("GPT-3 0.3B", "ft_cot"): [7.24, 6.72, 6.11, 50.67, 99.33],
    ("GPT-3 0.3B", "ft_cot, diverse"): [9.21, 10.08, 23.89, 59.33, 99.33],
    ("GPT-2 124M", "vanilla"): [5.26, 9.24, 12.22, 1.33, 60.00],
    ("GPT-2 124M", "ft_cot"): [3.95, 5.88, 8.33, 4.67, 77.33],
    ("GPT-2 124M", "ft_cot, diverse"): [6.58, 5.88, 17.78, 6.00, 76.00],
    ("Flan-T5 60M", "ft_cot"): [6.58, 5.88, 8.33, 35.33, 100],
    ("Flan-T5 60M", "ft_cot, diverse"): [7.24, 10.92, 17.22, 46.00, 100],
}


def our_results(run_dir: Path) -> dict[tuple[str, str], dict]:
    results = {}
    for metrics_path in sorted(run_dir.glob("eval/*/metrics.json")):
        manifest = json.loads((metrics_path.parent / "manifest.json").read_text())
        settings = manifest.get("settings") or manifest.get("config") or manifest
        task, method = settings.get("task"), settings.get("method")
        metrics = json.loads(metrics_path.read_text())
        results[(task, method)] = {
            "accuracy": metrics["accuracy"],
            "n": metrics["n"],
            "ci95": metrics["ci95"],
        }
    return results


def render(ours: dict) -> str:
    head = "| student | method | " + " | ".join(TITLES) + " |\n|" + " --- |" * (len(TITLES) + 2) + "\n"
    rows = []
    for method in ("vanilla", "ft_cot"):
        cells = []
        for task in TASKS:
            r = ours.get((task, method))
            cells.append(f"**{r['accuracy']:.2f}** ({r['ci95'][0]:.0f}–{r['ci95'][1]:.0f})" if r else "–")
        rows.append(f"| SmolLM2 135M (ours) | {method} | " + " | ".join(cells) + " |")
    for (student, method), values in PAPER.items():
        rows.append(f"| {student} (paper) | {method} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return head + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reproduce/results.md"))
    args = parser.parse_args()
    ours = our_results(args.run_dir)
    table = render(ours)
    args.out.write_text(table)
    args.out.with_suffix(".json").write_text(
        json.dumps({f"{t}/{m}": v for (t, m), v in ours.items()}, indent=2) + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
