"""Which student settings let `ftcot demo` show diverse reasoning within its time budget.

The demo's training compute is fixed by its budget (20 minutes on 2 CPU cores, where SmolLM2-135M
trains at about 210 tokens/s), so the question is what to do with it: this writes one recipe per
variant of the demo (src/ftcot/recipes/demo.toml: D=1, D=8 and vanilla students) that changes the
students' learning rate, epochs, seed or the number of train questions, and tabulates what each
scored on the whole MultiArith test split beside the tokens its students trained on (the CPU cost).
Run the recipes where they are cheap (a GPU: `benchmarks/gpu/run.sh demo`); labels come from the
manifests.

    python benchmarks/reproduce/demo_settings.py write runs/demo-settings
    for r in runs/demo-settings/*.toml; do ftcot run "$r" --out "${r%.toml}"; done
    python benchmarks/reproduce/demo_settings.py table runs/demo-settings/* --out benchmarks/reproduce/demo_settings.md
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

from ftcot.pipeline import builtin_recipe
from ftcot.report import find_runs
from ftcot.report.runs import Run

# name -> changes to the demo's students ({lr, epochs, seed}) and curate ({train_questions}: None for
# all 117 of the teacher's 134 questions left after validation). The first eight ran when demo.toml
# answered 8 val questions each epoch and evaluated in fp32 (neither changes what is trained; bf16
# evaluation changes some outputs); the seed-1 row of 40 questions ran with the shipped demo.toml.
VARIANTS = {
    "lr1e-4": {"lr": 1e-4, "train_questions": None},  # the demo as shipped before this sweep
    "lr3e-4": {"lr": 3e-4, "train_questions": None},
    "lr1e-3": {"lr": 1e-3, "train_questions": None},
    "lr3e-4-seed1": {"lr": 3e-4, "seed": 1, "train_questions": None},
    "lr1e-3-seed1": {"lr": 1e-3, "seed": 1, "train_questions": None},
    "lr3e-4-3ep": {"lr": 3e-4, "epochs": 3, "train_questions": None},
    "q40-lr1e-4": {"lr": 1e-4, "train_questions": 40},  # the demo's subset since this sweep
    "q40-lr1e-3": {"lr": 1e-3, "train_questions": 40},
    "q40-lr1e-4-seed1": {"lr": 1e-4, "train_questions": 40, "seed": 1},
}


def write(folder: Path) -> None:
    """One recipe per variant, `folder/NAME.toml`, in the TOML subset recipes use."""
    demo = tomllib.loads(builtin_recipe("demo"))
    folder.mkdir(parents=True, exist_ok=True)
    for name, change in VARIANTS.items():
        recipe = json.loads(json.dumps(demo))
        recipe["name"] = f"demo-{name}"
        for student in recipe["students"]:
            student.update({k: v for k, v in change.items() if k != "train_questions"})
        recipe["curate"]["train_questions"] = change["train_questions"]
        if change["train_questions"] is None:
            del recipe["curate"]["train_questions"]  # every question the teacher stage holds
        recipe["eval"]["batch_size"] = 96  # a GPU's batch; greedy outputs do not depend on it
        (folder / f"{name}.toml").write_text(to_toml(recipe))


def to_toml(recipe: dict) -> str:
    def value(v: object) -> str:
        return json.dumps(v)  # strings, numbers, booleans and lists of them read the same in TOML

    lines = [f"{k} = {value(v)}" for k, v in recipe.items() if not isinstance(v, dict | list) or k == "tasks"]
    for key, section in recipe.items():
        if isinstance(section, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {value(v)}" for k, v in section.items()]
        elif isinstance(section, list) and key != "tasks":
            for item in section:
                lines += ["", f"[[{key}]]"] + [f"{k} = {value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def cell(run: Run | None) -> str:
    if run is None:
        return "–"
    low, high = run.metrics["ci95"]
    return f"{run.metrics['accuracy']:.1f} ({low:.1f}–{high:.1f})"


def table(folders: list[Path]) -> tuple[str, list[dict]]:
    lines = [
        "| variant | lr | epochs | seed | train questions | vanilla | Fine-tune-CoT D=1 | Fine-tune-CoT D=8 "
        "| tokens trained (D=1 + vanilla + D=8) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    out = []
    order = list(VARIANTS)
    named = {f.name.removeprefix("demo-settings-"): f for f in folders}  # benchmarks/gpu/run.sh's run names
    for name in sorted(named, key=lambda n: order.index(n) if n in order else len(order)):
        folder = named[name]
        found = find_runs([folder])
        runs = [r for r in found if r.kind == "eval" and r.is_student and r.metrics]
        if not runs:
            continue
        by = {("vanilla" if r.method == "vanilla" else f"D={r.diverse_degree}"): r for r in runs}
        train = runs[0].student_manifest
        hp = train.hyperparameters
        tokens = sum(r.manifest.metrics.train_tokens or 0 for r in found if r.kind == "train")
        row = {
            "variant": name,
            "lr": hp["lr"],
            "epochs": hp["epochs"],
            "seed": hp["seed"],
            "train_questions": runs[0].train_questions,
            "tokens": tokens,
            **{k: (r.metrics["accuracy"], r.metrics["ci95"]) for k, r in by.items()},
        }
        out.append(row)
        cells = [name, hp["lr"], hp["epochs"], hp["seed"], runs[0].train_questions]
        cells += [cell(by.get(k)) for k in ("vanilla", "D=1", "D=8")] + [f"{tokens:,}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n", out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write").add_argument("folder", type=Path)
    tab = sub.add_parser("table")
    tab.add_argument("folders", type=Path, nargs="+")
    tab.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.command == "write":
        write(args.folder)
        return
    text, rows = table([f for f in args.folders if f.is_dir()])
    if args.out:
        args.out.write_text(text)
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
