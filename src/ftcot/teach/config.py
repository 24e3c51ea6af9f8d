"""The teacher stage's settings: `TeachConfig` (the `ftcot teach` flags) and what makes a job a job."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ftcot.errors import ConfigError
from ftcot.prompts import default_stop

# Settings that change what a sample is: a run folder holds one job, so a rerun must match them.
JOB_FIELDS = ("teacher", "task", "split", "temperature", "top_p", "max_tokens", "answer_max_tokens", "chat")


class TeachConfig(BaseModel):
    """The teacher stage's settings; the `ftcot teach` flags are these fields."""

    teacher: str = Field(
        description="openai:MODEL, hf:MODEL_OR_DIR, llamacpp:FILE.gguf, vllm:MODEL or recorded"
    )
    task: str = Field(description="Task name (see `ftcot tasks`) or a task card .toml (docs/tasks.md).")
    split: str = Field("train", description="The task's split to answer.")
    out: Path = Field(description="Run folder for completions.jsonl and manifest.json.")
    method: Literal["zs_cot", "zero_shot", "fs_cot", "ft_cot", "vanilla"] = Field(
        "zs_cot",
        description="zs_cot: rationale then answer; zero_shot, fs_cot: one-step prompt baselines; "
        "ft_cot, vanilla: a fine-tuned API student's training format (`{question} ###`), one step",
    )
    diverse: int = Field(1, ge=1, description="D: rationales per question (the paper: 1, or up to 64)")
    temperature: float | None = Field(None, ge=0, description="default: 0 when D=1, else 0.7 (the paper's)")
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(128, ge=1, description="rationale length limit (step 1); the paper used 128")
    answer_max_tokens: int = Field(32, ge=1, description="answer length limit (step 2)")
    stop: list[str] | None = Field(
        None,
        description="stop strings of every request; default: none for zs_cot, '\\nQ:' for one-step methods",
    )
    generic_trigger: bool = Field(False, description="use 'Therefore, the answer is' for every task")
    limit: int | None = Field(None, ge=1, description="only the first N questions of the split")
    base_url: str | None = Field(None, description="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key.")
    chat: bool = Field(True, description="Chat or legacy completions endpoint.")
    concurrency: int = Field(32, ge=1, description="Requests in flight at most.")
    rpm: float | None = Field(None, gt=0, description="Requests per minute, client side.")
    tpm: float | None = Field(None, gt=0, description="Tokens per minute, client side.")
    timeout: float = Field(120.0, gt=0, description="seconds per request attempt")
    max_attempts: int = Field(8, ge=1, description="Tries per request.")
    max_consecutive_failures: int = Field(
        16, ge=1, description="stop the run when this many requests in a row fail on every try (server down)"
    )
    max_cost: float | None = Field(None, ge=0, description="stop before spending more than this (US$)")
    prices: Path | None = Field(None, description="Price table override, JSON or TOML ($ per 1M tokens).")
    cache: Path | None = Field(None, description="SQLite cache; default $FTCOT_CACHE/teacher-cache.sqlite.")
    batch_size: int = Field(8, ge=1, description="prompts per call for local backends (hf)")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM tensor parallel degree.")
    batch_api: bool = Field(False, description="send through the OpenAI Batch API (half price, hours)")
    batch_poll_s: float = Field(30.0, description="Seconds between Batch API status checks.")
    dry_run: bool = Field(False, description="Estimate tokens and cost, send nothing.")
    progress: bool = Field(True, description="Show a progress bar.")

    @model_validator(mode="after")
    def _as_recorded(self) -> TeachConfig:
        """A recording was sampled once: its job states the recording's sampling (so the run folder says
        what made its records), and a setting that asks for other sampling is refused before any work."""
        if not self.teacher.startswith("recorded:"):
            return self
        from ftcot.teach import recordings

        name = self.teacher.split(":", 1)[1]
        recording = recordings.load(name)
        part = recording.part(self.task, self.split)
        made_with = {
            "temperature": recording.temperature_of(part),
            "top_p": recording.top_p,
            "max_tokens": recording.max_tokens,
        }
        for field, value in made_with.items():
            asked = getattr(self, field)
            if field in self.model_fields_set and asked is not None and asked != value:
                raise ConfigError(
                    f"recorded:{name} holds {self.task}/{self.split} sampled with {field}={value}, not {asked}: "
                    f"leave {field} unset or give {value}"
                )
            setattr(self, field, value)
        self.chat = recording.chat
        return self

    @property
    def sampling_temperature(self) -> float:
        if self.temperature is not None:
            return self.temperature
        return 0.0 if self.diverse == 1 else 0.7

    @property
    def one_step(self) -> bool:
        return self.method != "zs_cot"

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return default_stop(self.method) if self.stop is None else tuple(self.stop)

    def job(self) -> dict:
        data = self.model_dump(mode="json")
        job = {k: data[k] for k in JOB_FIELDS}
        job["temperature"] = self.sampling_temperature
        if self.one_step:  # only then: run folders made before `method` existed stay resumable
            job["method"] = self.method
        if self.stop_strings != default_stop(self.method):  # likewise: only a stop of one's own
            job["stop"] = list(self.stop_strings)
        return job
