"""What a teacher run costs: token counts, a price table the user can override, budgets and yield.

Prices are US dollars per million tokens (input, output) and change often: the defaults
below are a convenience, `--prices FILE` (JSON or TOML, `{"model": {"input": 0.15,
"output": 0.6}}`) overrides them. A model matches its longest listed prefix, so
`gpt-4o-mini-2024-07-18` uses `gpt-4o-mini`. Local backends cost nothing. The OpenAI
Batch API is billed at half price.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ftcot.errors import ConfigError

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-3.5-turbo-instruct": (1.50, 2.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "davinci-002": (2.00, 2.00),
    "babbage-002": (0.40, 0.40),
    "text-davinci-002": (20.00, 20.00),  # the paper's teacher, retired ($0.02 / 1K tokens)
}
LOCAL_BACKENDS = ("hf", "llamacpp", "vllm", "recorded")
BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    input: float  # $ per 1M prompt tokens
    output: float  # $ per 1M completion tokens

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def estimate_tokens(text: str) -> int:
    """A rough token count for budgets and dry runs: tiktoken when installed, else 4 characters a token."""
    try:
        import tiktoken
    except ImportError:
        return math.ceil(len(text) / 4)
    return len(tiktoken.get_encoding("o200k_base").encode(text))


def token_count_method() -> str:
    """How `estimate_tokens` counts, for dry runs to say."""
    try:
        import tiktoken  # noqa: F401
    except ImportError:
        return "4 characters a token (approximate)"
    return "tiktoken"


def load_prices(path: str | Path | None) -> dict[str, tuple[float, float]]:
    return read_price_table(
        path, DEFAULT_PRICES, lambda entry: (float(entry["input"]), float(entry["output"])),
        "price table", '{"MODEL": {"input": DOLLARS_PER_1M, "output": DOLLARS_PER_1M}}',
    )  # fmt: skip


def read_price_table(
    path: str | Path | None, defaults: dict, parse: Callable, what: str, expected: str
) -> dict:
    """`defaults` overlaid with the JSON or TOML table at `path`, each entry read by `parse`;
    a table that cannot be read is an error naming the file and the layout expected."""
    prices = dict(defaults)
    if path is None:
        return prices
    path = Path(path)
    try:
        text = path.read_text()
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        for model, entry in raw.items():
            prices[model] = parse(entry)
    except (OSError, ValueError, KeyError, TypeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the {what} ({e}); expected {expected} as JSON or TOML") from e
    return prices


def price_for(
    backend: str, model: str, prices: dict[str, tuple[float, float]], batch: bool = False
) -> Price | None:
    """The price of a model, or None when unknown."""
    if backend in LOCAL_BACKENDS:
        return Price(0.0, 0.0)
    listed = price_of(model, prices)
    if listed is None:
        return None
    p_in, p_out = listed
    factor = BATCH_DISCOUNT if batch else 1.0
    return Price(p_in * factor, p_out * factor)


def price_of(model: str, prices: dict):
    """A model's entry in a price table: its longest listed prefix's; None when none matches."""
    matches = [name for name in prices if model == name or model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


class CostTracker:
    """Spend of this run, and a budget that refuses requests which could overshoot it."""

    def __init__(self, model: str, prices: Price | None, max_cost: float | None = None):
        if max_cost is not None and prices is None:
            raise ConfigError(
                f"--max-cost needs a price for {model!r}: give --prices FILE with "
                f'{{"{model}": {{"input": ..., "output": ...}}}} (dollars per 1M tokens)'
            )
        self.model = model
        self.price = prices  # the run's price: its manifest and yield are stated in it
        self.rate = prices  # what the next requests cost (after Batch API rounds, the live price)
        self.max_cost = max_cost
        self.spent = 0.0
        self.reserved = 0.0

    def reserve(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Hold the most a request may cost; None when that could exceed the budget."""
        if self.rate is None:
            return 0.0
        worst = self.rate.cost(prompt_tokens, completion_tokens)
        if self.max_cost is not None and self.spent + self.reserved + worst > self.max_cost:
            return None
        self.reserved += worst
        return worst

    def release(self, reservation: float) -> None:
        self.reserved -= reservation

    def add(self, prompt_tokens: int, completion_tokens: int) -> None:
        if self.rate is not None:
            self.spent += self.rate.cost(prompt_tokens, completion_tokens)

    def cost_of(self, usage: dict) -> float | None:
        if self.price is None:
            return None
        return self.price.cost(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))


def yield_report(records: list, costs: CostTracker) -> dict:
    """Correct rationales per question and the cost of each kept (correct) rationale."""
    questions: dict[tuple[str, int], int] = {}
    usage = {"prompt_tokens": 0, "completion_tokens": 0}
    for r in records:
        questions[(r.task, r.sample_id)] = questions.get((r.task, r.sample_id), 0) + bool(r.correct)
        for k in usage:
            usage[k] += int(r.usage.get(k, 0) or 0)
    kept = sum(questions.values())
    total_cost = costs.cost_of(usage)
    return {
        "questions": len(questions),
        "samples": len(records),
        "kept_rationales": kept,
        "questions_with_kept": sum(1 for v in questions.values() if v),
        "kept_per_question": kept / len(questions) if questions else 0.0,
        "usage": usage,
        "job_cost": total_cost,
        "cost_per_kept_rationale": (total_cost / kept) if (total_cost is not None and kept) else None,
    }
