"""The settings of an API student's training (`ftcot train --student openai:BASE_MODEL`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ftcot.errors import ConfigError

PREFIX = "openai:"
COMPLETIONS_MODELS = ("babbage-002", "davinci-002")  # legacy models: prompt/completion files, no chat


def is_api_student(spec: str) -> bool:
    return str(spec).startswith(PREFIX)


class APITrainConfig(BaseModel):
    """Settings of `ftcot train --student openai:BASE_MODEL`; the CLI flags are these fields."""

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(description="Data folder written by `ftcot curate`.")
    student: str = Field(description="openai:BASE_MODEL, e.g. openai:gpt-4o-mini-2024-07-18.")
    out: Path = Field(description="Output folder: manifest.json (job, fine-tuned model, cost).")
    method: Literal["ft_cot", "vanilla"] = Field("ft_cot", description="Fine-tune-CoT or vanilla.")
    epochs: int | None = Field(None, ge=1, description="n_epochs (None: the service chooses, 'auto').")
    lr_multiplier: float | None = Field(None, gt=0, description="learning_rate_multiplier (None: auto).")
    batch_size: int | None = Field(None, ge=1, description="Examples per batch (None: auto).")
    seed: int | None = Field(None, description="The job's seed (None: the service picks one).")
    suffix: str | None = Field(
        None, max_length=64, description="Fine-tuned model name suffix (default: ftcot-<fingerprint>)."
    )
    chat: bool | None = Field(
        None, description="Chat or completions training file (None: completions for babbage/davinci-002)."
    )
    base_url: str | None = Field(None, description="OpenAI-compatible API (default: OpenAI's).")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    timeout: float = Field(120.0, gt=0, description="Seconds per API call.")
    max_attempts: int = Field(8, ge=1, description="Tries per API call on 429, 5xx and dropped connections.")
    poll_s: float = Field(10.0, gt=0, description="Seconds between job status checks, at first.")
    max_poll_s: float = Field(120.0, gt=0, description="Longest wait between status checks (backoff).")
    max_cost: float | None = Field(
        None, ge=0, description="Refuse to start a job estimated above this (US$)."
    )
    prices: Path | None = Field(None, description="Training price table, JSON or TOML ($ per 1M tokens).")
    dry_run: bool = Field(
        False, description="Print the training tokens and the estimated cost; send nothing."
    )
    progress: bool = Field(True, description="Show the job's status and events.")

    @model_validator(mode="after")
    def _check(self) -> APITrainConfig:
        if not self.base_model:
            raise ConfigError(
                f"student {self.student!r}: name the base model, e.g. openai:gpt-4o-mini-2024-07-18"
            )
        if self.max_cost is not None and self.epochs is None:
            raise ConfigError(
                "--max-cost needs --epochs: with 'auto' epochs the service decides how much is trained"
            )
        return self

    @property
    def base_model(self) -> str:
        return self.student.removeprefix(PREFIX)

    @property
    def endpoint(self) -> str:
        """'chat' or 'completions': the training file format, and how the student is prompted."""
        if self.chat is not None:
            return "chat" if self.chat else "completions"
        return "completions" if self.base_model.startswith(COMPLETIONS_MODELS) else "chat"

    @property
    def hyperparameters(self) -> dict:
        """The hyperparameters given (the service chooses the others)."""
        chosen = {"n_epochs": self.epochs, "learning_rate_multiplier": self.lr_multiplier}
        chosen["batch_size"] = self.batch_size
        return {k: v for k, v in chosen.items() if v is not None}

    def job_settings(self) -> dict:
        """What changes the trained model: part of the fingerprint."""
        return {
            "base_model": self.base_model,
            "method": self.method,
            "endpoint": self.endpoint,
            "hyperparameters": self.hyperparameters,
            "seed": self.seed,
            "suffix": self.suffix,
        }


def api_train_config(settings: dict) -> APITrainConfig:
    """An APITrainConfig from train settings; a setting only local students take is refused by name."""
    local_only = sorted(set(settings) - set(APITrainConfig.model_fields))
    if local_only:
        raise ConfigError(
            f"{', '.join(local_only)}: not a setting of API students ({settings.get('student')}); "
            f"they take: {', '.join(k for k in APITrainConfig.model_fields if k not in ('data_dir', 'out'))}"
        )
    return APITrainConfig(**settings)
