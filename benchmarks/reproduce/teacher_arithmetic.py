"""How often the rationales a student trains on state a wrong result: what `--arithmetic drop|repair` can act on.

    python benchmarks/reproduce/teacher_arithmetic.py CURATE_DIR... --out benchmarks/reproduce/teacher_arithmetic.md

Each CURATE_DIR is a `ftcot curate` folder made with the default `arithmetic = "keep"` (a recipe's
RUN/curate/<label>-<hash>/). For its training rationales (the answer-correct ones the paper keeps)
it counts the equations `ftcot.calculator` finds and those whose stated result is wrong, with the
same checker that curation's drop/repair uses. The table says how many rationales those options
would change; where that is none, they cannot change the student.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ftcot.calculator import find_equations
from ftcot.curate import TRAIN_FILE
from ftcot.manifests import CurateManifest, load_manifest


def count(folder: Path) -> dict:
    manifest = load_manifest(folder)
    if not isinstance(manifest, CurateManifest):
        raise SystemExit(f"{folder}: not a curate folder")
    rows = [json.loads(line) for line in (folder / TRAIN_FILE).read_text().splitlines() if line.strip()]
    rationales = [r["rationale"] for r in rows if r.get("rationale")]
    per_rationale = [find_equations(text) for text in rationales]
    wrong = [sum(not e.correct for e in equations) for equations in per_rationale]
    dataset = manifest.dataset
    return {
        "task": rows[0]["task"] if rows else "",
        "teacher": dataset.teacher,
        "diverse": dataset.diverse,
        "rationales": len(rationales),
        "equations": sum(len(e) for e in per_rationale),
        "wrong_equations": sum(wrong),
        "rationales_with_wrong": sum(w > 0 for w in wrong),
        "folder": str(folder),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("curate_dirs", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/reproduce/teacher_arithmetic.md"))
    args = parser.parse_args()
    rows = [count(folder) for folder in args.curate_dirs]
    lines = [
        "# Wrong arithmetic in the rationales students train on",
        "",
        "| task | teacher | D | training rationales | equations | wrong results | rationales with one |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {r['task']} | {r['teacher']} | {r['diverse']} | {r['rationales']} | {r['equations']} "
            f"| {r['wrong_equations']} | {r['rationales_with_wrong']} |"
            for r in rows
        ),
        "",
        "Among the rationales the paper's filter keeps (final answer right), a wrong stated result is this "
        "rare, so `ftcot curate --arithmetic drop` or `repair` has almost nothing to act on where the last "
        "column is 0 or 1, and cannot change these students: their arithmetic slips are their own, not "
        "learnt from their data.",
        "",
        "Made by `python benchmarks/reproduce/teacher_arithmetic.py "
        + " ".join(f"runs/{Path(r['folder']).parts[-3]}/curate/{Path(r['folder']).name}" for r in rows)
        + "` (the recipe runs of benchmarks/reproduce/README.md).",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
