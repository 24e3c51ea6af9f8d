"""`TrainConfig`: every setting of `ftcot train`, with documented defaults. The CLI flags are these fields.

The defaults are the paper's public recipe for open students (AdamW, lr 3e-4, batch 8,
constant learning rate, inputs and labels truncated at 512 tokens) except the number of
epochs (3 rather than 20, so that a first run on a CPU ends the same day) and batching
(length-grouped batches, which only change which samples share a batch). `preset='paper'`
sets the paper's values, 20 epochs included, for every field the caller did not set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ftcot.errors import ConfigError

PRESETS: dict[str, dict] = {
    # reasoning-teacher's custom students: AdamW, 3e-4, batch 8, 20 epochs, no schedule, 512 tokens.
    "paper": {
        "epochs": 20,
        "lr": 3e-4,
        "batch_size": 8,
        "grad_accum": 1,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_length": 512,
    },
}


class TrainConfig(BaseModel):
    data_dir: Path = Field(description="Data folder written by `ftcot curate` (train.jsonl, val.jsonl).")
    student: str = Field(
        description="Student: bundled short name (smollm2), .gguf file, folder or HF id; openai:BASE_MODEL "
        "fine-tunes through the API (docs/api-students.md)."
    )
    out: Path = Field(description="Output folder: weights, tokenizer, checkpoints/, manifest.json.")
    method: Literal["ft_cot", "vanilla"] = Field(
        "ft_cot", description="Fine-tune-CoT or the vanilla baseline."
    )
    preset: Literal["paper"] | None = Field(
        None,
        description="Fill unset fields from a named recipe. paper: AdamW 3e-4, batch 8, 20 epochs, "
        "constant lr, 512 tokens.",
    )

    # optimisation
    epochs: float = Field(3, gt=0, description="Training epochs (the paper: 20).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1: run all epochs).")
    lr: float = Field(3e-4, gt=0, description="AdamW learning rate.")
    batch_size: int = Field(8, ge=1, description="Samples per device per step.")
    grad_accum: int = Field(
        1, ge=1, description="Gradient accumulation steps (effective batch = batch * accum * devices)."
    )
    lr_scheduler: str = Field(
        "constant", description="transformers scheduler name: constant, linear, cosine, ..."
    )
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="Fraction of steps for linear warmup.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, description="Gradient clipping (transformers' default).")
    max_length: int = Field(512, ge=8, description="Tokens kept of prompt + completion (the paper: 512).")
    group_by_length: bool = Field(
        True, description="Length-grouped batches (less padding) instead of shuffled."
    )
    seed: int = Field(
        0, description="Random seed (transformers' TrainingArguments.seed): data order, dropout, LoRA's init."
    )

    # model
    lora: bool = Field(False, description="Train a LoRA adapter (peft) instead of all weights.")
    lora_r: int = Field(8, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(16, ge=1, description="LoRA alpha (the update is scaled by alpha / r).")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    lora_target_modules: str = Field(
        "all-linear", description="peft target_modules: 'all-linear' or comma list."
    )
    bf16: bool | None = Field(
        None,
        description="bf16 mixed precision. None: on a GPU that supports it; on a CPU where a short probe "
        "measures bf16 matrix products clearly faster than fp32 (cached per CPU, torch version and threads "
        "in $FTCOT_CACHE/precision-probe.json; ftcot.train.precision).",
    )
    gradient_checkpointing: bool = Field(False, description="Recompute activations to save memory.")
    trust_remote_code: bool = Field(False, description="Run model code from the checkpoint (off by default).")

    # validation, checkpoints, logging
    eval_every_epoch: bool = Field(
        True,
        description="Validate each epoch (val loss, val accuracy) and keep the epoch `select_by` picks; "
        "off: no validation, the last epoch is the model.",
    )
    select_by: Literal["val_loss", "val_accuracy", "last"] = Field(
        "val_loss",
        description="Which epoch becomes the model. val_loss: the lowest teacher-forced loss over the "
        "completion tokens of every val row (no generation, so all rows are cheap; a mean over thousands of "
        "tokens moves little by chance). val_accuracy: the best greedy accuracy on the val questions scored "
        "(on 16 questions one answer moves it 6 points, so it picks noise; raise val_limit to use it). "
        "last: the last epoch. A lower val loss is not guaranteed to be the more accurate epoch. "
        "Ties go to the later epoch.",
    )
    val_max_new_tokens: int = Field(128, ge=1, description="Generation budget for validation answers.")
    val_batch_size: int = Field(16, ge=1, description="Val questions answered per generation batch.")
    val_limit: int | None = Field(
        None,
        ge=0,
        description="Val accuracy on the first N val questions only (val loss uses them all); 0: no val "
        "accuracy, so no generation during training (val loss still chooses the epoch).",
    )
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (the best one is never deleted).")
    keep_checkpoints: bool = Field(
        False,
        description="Keep OUT/checkpoints after a finished run. They exist to resume a crash and hold "
        "the optimizer state (about 3x the weights each), so a finished run deletes them by default.",
    )
    resume: bool = Field(False, description="Resume from the last checkpoint in OUT/checkpoints.")
    logging_steps: int | None = Field(
        None, ge=1, description="Log the train loss every N steps (None: per epoch)."
    )
    report_to: str = Field("none", description="none, wandb, tensorboard (comma-separated).")
    progress: bool | None = Field(
        None,
        description="A live progress bar on stderr (steps, tokens/s, ETA, val loss and accuracy); off: one "
        "log line per epoch. None: on when stderr is a terminal.",
    )
    check_format: bool = Field(
        True, description="Render rows through the tokenizer and check the loss mask first."
    )

    # Distilling step-by-step (Hsieh et al. 2023)
    step_by_step: bool = Field(False, description="Multi-task loss: answer loss + alpha * rationale loss.")
    sbs_alpha: float = Field(1.0, ge=0, description="Weight of the rationale loss in step-by-step training.")

    @model_validator(mode="after")
    def _apply_preset(self) -> TrainConfig:
        if self.preset is None:
            return self
        for name, value in PRESETS[self.preset].items():
            if name not in self.model_fields_set:
                object.__setattr__(self, name, value)
        return self

    @model_validator(mode="after")
    def _check_combinations(self) -> TrainConfig:
        if self.step_by_step and self.method != "ft_cot":
            raise ConfigError("step-by-step training needs rationales: use it with --method ft_cot")
        if self.select_by == "val_accuracy" and self.val_limit == 0:
            raise ConfigError(
                "select_by val_accuracy needs val questions to answer: val_limit 0 answers none"
            )
        return self

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.out) / "checkpoints"
