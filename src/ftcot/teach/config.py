"""The teacher stage's settings: `TeachConfig` (the `ftcot teach` flags) and what makes a job a job."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

# Settings that change what a sample is: a run folder holds one job, so a rerun must match them.
JOB_FIELDS = ("teacher", "task", "split", "temperature", "top_p", "max_tokens", "answer_max_tokens", "chat")


def default_stop(method: str) -> tuple[str, ...]:
    """Kojima's Zero-shot-CoT steps stop at nothing; a one-step prompt ends in "A:", and the model
    would go on to invent the next "Q:". A fine-tuned student (ft_cot, vanilla: an API student served
    for evaluation) ends its turn, or its trained ` END` on a completions endpoint."""
    if method in ("ft_cot", "vanilla"):
        return ("END",)
    return () if method == "zs_cot" else ("\nQ:",)


class TeachConfig(BaseModel):
    """The teacher stage's settings; the `ftcot teach` flags are these fields."""

    teacher: str = Field(
        description="openai:MODEL, hf:MODEL_OR_DIR, llamacpp:FILE.gguf, vllm:MODEL or recorded"
    )
    task: str
    split: str = "train"
    out: Path
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
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    chat: bool = True
    concurrency: int = Field(32, ge=1)
    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    timeout: float = Field(120.0, gt=0, description="seconds per request attempt")
    max_attempts: int = Field(8, ge=1)
    max_consecutive_failures: int = Field(
        16, ge=1, description="stop the run when this many requests in a row fail on every try (server down)"
    )
    max_cost: float | None = Field(None, ge=0, description="stop before spending more than this (US$)")
    prices: Path | None = None
    cache: Path | None = None
    batch_size: int = Field(8, ge=1, description="prompts per call for local backends (hf)")
    tensor_parallel_size: int = Field(1, ge=1)
    batch_api: bool = Field(False, description="send through the OpenAI Batch API (half price, hours)")
    batch_poll_s: float = 30.0
    dry_run: bool = False
    progress: bool = True

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
