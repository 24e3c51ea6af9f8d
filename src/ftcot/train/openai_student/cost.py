"""What an API student's job trains on and costs, estimated before anything is sent."""

from __future__ import annotations

from pathlib import Path

from ftcot.errors import ConfigError, Incomplete
from ftcot.teach.cost import estimate_tokens, price_of, read_price_table, token_count_method
from ftcot.train.openai_student.config import APITrainConfig
from ftcot.train.openai_student.files import TrainingFiles, read_rows, training_files

# Example prices in US$ per 1M *training* tokens (tokens in the training file x epochs). They change:
# check the provider's price page and override with --prices FILE ({"MODEL": {"training": 3.0}}).
TRAINING_PRICES: dict[str, float] = {
    "gpt-4o-mini": 3.00,
    "gpt-4o": 25.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1": 25.00,
    "gpt-3.5-turbo": 8.00,
    "davinci-002": 6.00,
    "babbage-002": 0.40,
}
AUTO_EPOCHS = 3  # what estimates assume when the service picks the number of epochs ("auto")
CHAT_TOKENS_PER_MESSAGE = 3  # role and separators around each message, and the reply's priming


def estimate(config: APITrainConfig, files: TrainingFiles | None = None) -> dict:
    """Training tokens and estimated cost of the job, before anything is sent."""
    files = files or training_files(config)
    train_tokens = count_tokens(files.train)
    epochs = config.epochs or AUTO_EPOCHS
    price = price_of(config.base_model, load_training_prices(config.prices))  # $ per 1M, None: unknown
    return {
        "student": config.student,
        "method": config.method,
        "endpoint": config.endpoint,
        "train_examples": files.train_examples,
        "val_examples": files.val_examples,
        "train_file_tokens": train_tokens,
        "val_file_tokens": count_tokens(files.val) if files.val else 0,
        "epochs": config.epochs if config.epochs else f"auto (assumed {AUTO_EPOCHS})",
        "trained_tokens": train_tokens * epochs,
        "token_count": token_count_method(),
        "price_per_1m_training_tokens": price,
        "cost": None if price is None else round(train_tokens * epochs * price / 1e6, 4),
    }


def count_tokens(path: Path) -> int:
    """Tokens of a training file as billed (tiktoken when installed, else 4 characters a token)."""
    tokens = 0
    for example in read_rows(path):
        if "messages" in example:
            tokens += CHAT_TOKENS_PER_MESSAGE * (len(example["messages"]) + 1)
            tokens += sum(estimate_tokens(m.get("content") or "") for m in example["messages"])
        else:
            tokens += estimate_tokens(example.get("prompt", "") + example.get("completion", ""))
    return tokens


def load_training_prices(path: Path | None) -> dict[str, float]:
    return read_price_table(
        path, TRAINING_PRICES, lambda entry: float(entry["training"] if isinstance(entry, dict) else entry),
        "training price table", '{"MODEL": {"training": DOLLARS_PER_1M_TRAINING_TOKENS}}',
    )  # fmt: skip


def check_budget(config: APITrainConfig, estimated: dict) -> None:
    """Refuse a job that could cost more than --max-cost (with auto epochs the cost is not known)."""
    if config.max_cost is None:
        return
    if estimated["cost"] is None:
        raise ConfigError(
            f"--max-cost needs a training price for {config.base_model!r}: give --prices FILE with "
            f'{{"{config.base_model}": {{"training": DOLLARS_PER_1M_TOKENS}}}}'
        )
    if estimated["cost"] > config.max_cost:
        raise Incomplete(
            f"the job would cost about ${estimated['cost']:.2f} ({estimated['trained_tokens']:,} training "
            f"tokens), over --max-cost ${config.max_cost:.2f}; no job was started",
            status="budget",
        )
