"""Seeded generators for the two symbolic tasks, at any size and difficulty.

The questions follow the wording of Wei et al.'s and Kojima et al.'s datasets; the names
come from ftcot's own list (data/names.txt). Output rows are user-task rows
(question, answer) that `ftcot show FILE.jsonl --answer-type ...` and every stage read.
"""

from __future__ import annotations

import json
import random
from functools import cache
from importlib import resources
from pathlib import Path

COIN_FLIP = 'A coin is heads up. {steps} Is the coin still heads up? Note that "flip" here means "reverse".'
LAST_LETTER = 'Take the last letters of each words in "{words}" and concatenate them.'


@cache
def default_names() -> tuple[str, ...]:
    text = resources.files("ftcot").joinpath("data/names.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def coin_flip(n: int, people: int = 4, seed: int = 0, names: list[str] | None = None) -> list[dict]:
    """Each person flips or does not flip; the answer is 'yes' when the number of flips is even."""
    rng = random.Random(seed)
    pool = list(names or default_names())
    rows = []
    for _ in range(n):
        flips = [rng.random() < 0.5 for _ in range(people)]
        who = rng.sample(pool, people) if people <= len(pool) else [rng.choice(pool) for _ in range(people)]
        steps = " ".join(
            f"{p} {'flips' if f else 'does not flip'} the coin." for p, f in zip(who, flips, strict=True)
        )
        rows.append({"question": COIN_FLIP.format(steps=steps), "answer": "no" if sum(flips) % 2 else "yes"})
    return rows


def last_letter_concatenation(
    n: int, words: int = 4, seed: int = 0, names: list[str] | None = None
) -> list[dict]:
    """Concatenate the last letter of each of `words` names."""
    rng = random.Random(seed)
    pool = list(names or default_names())
    rows = []
    for _ in range(n):
        chosen = rng.sample(pool, words) if words <= len(pool) else [rng.choice(pool) for _ in range(words)]
        rows.append(
            {"question": LAST_LETTER.format(words=" ".join(chosen)), "answer": "".join(w[-1] for w in chosen)}
        )
    return rows


GENERATORS = {
    "coin_flip": (coin_flip, "yesno"),
    "last_letter_concatenation": (last_letter_concatenation, "letters"),
}


def write_jsonl(rows: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
