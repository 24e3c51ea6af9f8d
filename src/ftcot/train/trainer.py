"""`train(config)`: fine-tune a student on curated data with the Hugging Face `Trainer`.

The loop, optimizer, mixed precision, gradient accumulation, checkpointing, resume and
distributed launch (`accelerate launch`) are transformers'. What this file adds:
  - the completion-only data of `ftcot.train.data` with length-grouped batches;
  - LoRA through peft (the final weights are merged; the adapter is kept as well);
  - per-epoch validation: the teacher-forced loss of every val row, and the accuracy of greedy
    answers scored by the shared answer checker; the epoch `select_by` picks becomes the model;
  - bf16 or fp32 by what the machine does (`ftcot.train.precision`), and a live progress bar
    (`ftcot.train.progress`) in place of the Trainer's printed dicts;
  - the loss over completion positions only: the LM head and its log-softmax skip the prompt
    (`ftcot.train.loss`), for decoders whose forward takes `logits_to_keep`;
  - the Distilling step-by-step loss as an option;
  - an output folder that explains itself: safetensors weights, tokenizer, manifest.json
    (data, model, hyperparameters, per-epoch train loss, val loss and val accuracy, which epoch was
    selected and by what, precision and why, code version).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from ftcot.curate import TRAIN_FILE, VAL_FILE
from ftcot.errors import ConfigError, DataError
from ftcot.manifests import (
    CurateManifest,
    DatasetFacts,
    EpochRow,
    PrecisionProbe,
    StudentFormat,
    StudentModel,
    TrainData,
    TrainManifest,
    TrainMetrics,
    load_manifest,
)
from ftcot.records import write_manifest
from ftcot.sources import sha256_of
from ftcot.train import step_by_step as sbs
from ftcot.train.config import TrainConfig
from ftcot.train.data import Collator, build_dataset, load_rows, select_rows, sequence_length
from ftcot.train.format_check import check_format
from ftcot.train.loss import completion_loss, keeps_logits
from ftcot.train.precision import choose_precision
from ftcot.train.progress import TrainProgress, library_bars_off, progress_enabled
from ftcot.train.validate import loss_sums, mean_loss, score_rows

log = logging.getLogger(__name__)


class LengthGroupedSampler(torch.utils.data.Sampler):
    """Shuffled batches of rows of similar length: little padding, still a random order each epoch.

    Rows are shuffled, cut into megabatches of `megabatch` batches, sorted by length inside
    each megabatch and cut into batches; the batches are then shuffled. (transformers' own
    sampler shrinks its megabatch to one batch on datasets of a few hundred rows, which the
    paper's tasks are, and then groups nothing.) Randomness comes from torch's global
    generator, which the Trainer seeds and restores on resume.
    """

    def __init__(self, lengths: list[int], batch_size: int, megabatch: int = 64):
        self.lengths, self.batch_size, self.megabatch = lengths, batch_size, megabatch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        order = torch.randperm(len(self.lengths)).tolist()
        size = self.batch_size * self.megabatch
        batches = []
        for start in range(0, len(order), size):
            group = sorted(order[start : start + size], key=lambda i: -self.lengths[i])
            batches += [group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size)]
        # The loader cuts this order into consecutive batches: a short batch may only come last.
        full = [b for b in batches if len(b) == self.batch_size]
        short = [b for b in batches if len(b) < self.batch_size]
        for b in torch.randperm(len(full)).tolist():
            yield from full[b]
        for batch in short:
            yield from batch


def train_sampler(dataset, batch_size: int, group_by_length: bool) -> torch.utils.data.Sampler:
    """Length-grouped order (rows of similar length share a batch, so little padding) or shuffled."""
    if not group_by_length:
        return torch.utils.data.RandomSampler(dataset)  # the public code's shuffled batches
    return LengthGroupedSampler([sequence_length(f) for f in dataset.features], batch_size)


class StudentTrainer(Trainer):
    """`Trainer` with length-grouped batches from precomputed lengths, val loss and accuracy, and
    step-by-step loss.

    `val_rows` are the questions answered for val accuracy (the first `val_limit`), `val_data` the
    tokenized val rows whose loss is measured (all of them), `selected_by` the criterion in force."""

    def __init__(self, *args, ftcot: TrainConfig, val_rows: list[dict], val_data, selected_by: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.ftcot = ftcot
        self.val_rows = val_rows
        self.val_data = val_data
        self.selected_by = selected_by
        if ftcot.step_by_step:
            # Our loss is a mean per task, not a token sum: let the Trainer divide by accumulation steps.
            self.model_accepts_loss_kwargs = False

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        # Warmup as a whole number of steps, from the ratio and the run's real step count: transformers 5
        # reads a warmup_steps below 1 as a ratio, 4.x as a (fractional) step count, which loses the warmup.
        self.args.warmup_steps = warmup_steps(self.ftcot.warmup_ratio, num_training_steps)
        return super().create_scheduler(num_training_steps, optimizer)

    def _issue_warnings_after_load(self, load_result) -> None:
        # A checkpoint stores a tied weight once (SmolLM2's lm_head is its embedding), so reloading the
        # best epoch reports lm_head.weight as missing. It is not: it is the same tensor as a loaded
        # weight (tests/train/test_trainer.py checks the tie survives). Warn only of keys really missing.
        tied = tied_parameter_names(self.model)
        missing = [k for k in load_result.missing_keys if k not in tied]
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        batch = self.args.train_batch_size * self.args.gradient_accumulation_steps
        return train_sampler(dataset, batch, self.ftcot.group_by_length)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.ftcot.step_by_step:
            loss, outputs = sbs.step_by_step_loss(model, inputs, self.ftcot.sbs_alpha)
        elif self.uses_completion_loss(model):
            loss, outputs = self.completion_loss(model, inputs, num_items_in_batch)
        else:  # an encoder-decoder, a forward without logits_to_keep, a label smoother: the model's own loss
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        return (loss, outputs) if return_outputs else loss

    def uses_completion_loss(self, model) -> bool:
        """Whether the loss skips the prompt's logits (`ftcot.train.loss`): for a decoder that takes
        `logits_to_keep`, unless a Trainer option (label smoothing, a loss function) owns the loss."""
        if self.label_smoother is not None or self.compute_loss_func is not None:
            return False
        return keeps_logits(self.accelerator.unwrap_model(model))

    def completion_loss(self, model, inputs, num_items_in_batch):
        """`ftcot.train.loss.completion_loss` normalised as `Trainer.compute_loss` normalises the model's loss."""
        if not self.model_accepts_loss_kwargs:
            num_items_in_batch = None  # a per-batch mean, which the Trainer divides by the accumulation steps
        loss, outputs = completion_loss(model, inputs, num_items_in_batch)
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # num_items_in_batch counts the tokens of every process, and DDP averages the gradients.
            tp = self.get_tp_size() if hasattr(self, "get_tp_size") else 1
            loss = loss * (self.accelerator.num_processes // tp if self.args.n_gpu <= 1 else self.args.n_gpu)
        return loss, outputs

    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """Val loss over every val row, val accuracy on the val questions, and the selection score."""
        start = time.time()
        loss = self.val_loss()
        n = len(self.val_rows)  # 0 with val_limit 0: val loss only, nothing generated
        metrics: dict[str, float] = {f"{metric_key_prefix}_n": n}
        accuracy = None
        if n:
            correct = self.val_correct()
            accuracy = 100.0 * correct / n
            metrics |= {f"{metric_key_prefix}_accuracy": accuracy, f"{metric_key_prefix}_correct": correct}
        if loss is not None:
            metrics[f"{metric_key_prefix}_loss"] = loss
        if self.selected_by != "last":
            epoch = self.state.epoch or 0
            metrics[f"{metric_key_prefix}_selection"] = selection_score(
                self.selected_by, loss, accuracy, epoch
            )
        metrics[f"{metric_key_prefix}_runtime"] = round(time.time() - start, 2)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def val_loss(self) -> float | None:
        """Teacher-forced loss over the completion tokens of every val row; None without such rows.

        Each process takes a strided shard of the rows sorted by length (so batches pad little) and
        runs as many batches as the others (under FSDP/ZeRO-3 every forward is collective); the rows
        added to even out the shards count for nothing."""
        data = self.val_data
        if data is None or not len(data):
            return None
        rank, world = self.args.process_index, self.args.world_size
        by_length = sorted(range(len(data)), key=lambda i: sequence_length(data[i]))
        shard = by_length[rank::world]
        padded = shard + by_length[: math.ceil(len(data) / world) - len(shard)]
        batch_size = self.args.per_device_train_batch_size  # what fits in training fits here
        model = self.model
        was_training = model.training
        model.eval()
        totals: dict[str, torch.Tensor] = {}
        try:
            for start in range(0, len(padded), batch_size):
                rows = padded[start : start + batch_size]
                keep = torch.tensor(
                    [start + i < len(shard) for i in range(len(rows))], device=self.args.device
                )
                batch = self._prepare_inputs(self.data_collator([data[i] for i in rows]))
                for prefix, sums in loss_sums(model, batch, keep).items():
                    totals[prefix] = totals[prefix] + sums if prefix in totals else sums
        finally:
            model.train(was_training)
        if world > 1:
            totals = {k: self.accelerator.reduce(totals[k], reduction="sum") for k in sorted(totals)}
        return mean_loss(totals, self.ftcot.sbs_alpha if self.ftcot.step_by_step else None)

    def val_correct(self) -> int:
        """Greedy answers to the val questions that the answer checker accepts (summed over processes)."""
        rank, world = self.args.process_index, self.args.world_size
        model = self.accelerator.unwrap_model(self.model)
        shard = self.val_rows[rank::world]
        # Equal shard sizes: under ZeRO-3/FSDP every process must run the same number of generate calls.
        padded = shard + self.val_rows[: math.ceil(len(self.val_rows) / world) - len(shard)]
        _, results = score_rows(
            model,
            self.processing_class,
            padded,
            method=self.ftcot.method,
            step_by_step=self.ftcot.step_by_step,
            max_new_tokens=self.ftcot.val_max_new_tokens,
            batch_size=self.ftcot.val_batch_size,
        )
        correct = sum(r["correct"] for r in results[: len(shard)])
        total = torch.tensor([correct], device=self.args.device)
        if world > 1:
            total = self.accelerator.reduce(total, reduction="sum")
        return int(total.item())


def selection_score(selected_by: str, loss: float | None, accuracy: float | None, epoch: float) -> float:
    """The score the Trainer keeps the highest of: -val loss or val accuracy. Ties go to the later
    (longer-trained) epoch: small val splits tie often on accuracy, and the first epoch of a tie is
    the least trained. The nudge is far below any difference that means something."""
    if selected_by == "val_loss":
        return -loss + 1e-9 * epoch
    return accuracy + 1e-6 * epoch


def has_validation(val_rows: list[dict], val_data) -> bool:
    """Whether an epoch can be validated: val questions to answer, or val rows to take the loss of."""
    return bool(val_rows) or (val_data is not None and len(val_data) > 0)


def selection_criterion(config: TrainConfig, val_rows: list[dict], val_data) -> str:
    """The criterion in force: `select_by`, unless nothing can be validated (then the last epoch) or no
    val row has a completion to score (ft_cot val questions without a kept rationale: val accuracy)."""
    if not (config.eval_every_epoch and has_validation(val_rows, val_data)):
        return "last"
    if config.select_by == "val_loss" and not len(val_data):
        log.warning(
            "no val row has a completion to take the loss of (no kept rationale): selecting by val accuracy"
        )
        return "val_accuracy"
    return config.select_by


def tied_parameter_names(model) -> set[str]:
    """Names under which a parameter appears after its first name (a tied lm_head: the embedding)."""
    first: set[int] = set()
    tied = set()
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if id(parameter) in first:
            tied.add(name)
        first.add(id(parameter))
    return tied


def warmup_steps(ratio: float, num_training_steps: int) -> int:
    """Linear warmup steps for a fraction of the optimizer steps (rounded up, as transformers does)."""
    return math.ceil(ratio * num_training_steps)


# --- setup --------------------------------------------------------------------------------------


def load_student(config: TrainConfig):
    """(model, tokenizer, checkpoint, encoder_decoder) in float32; bf16 comes from autocast, not the weights."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from ftcot.models import is_encoder_decoder, local_checkpoint

    checkpoint = local_checkpoint(config.student)
    encoder_decoder = is_encoder_decoder(checkpoint, config.trust_remote_code)
    cls = AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM
    model = cls.from_pretrained(
        checkpoint, dtype=torch.float32, trust_remote_code=config.trust_remote_code, use_safetensors=True
    )
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=config.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is masked out of the loss; EOS itself is trained
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            f"{config.student}: the tokenizer has no EOS token, so a student could not learn to stop"
        )
    tokenizer.padding_side = "right" if encoder_decoder else "left"  # generation pads; training pads itself
    return model, tokenizer, checkpoint, encoder_decoder


def add_lora(model, config: TrainConfig, encoder_decoder: bool):
    from peft import LoraConfig, TaskType, get_peft_model

    targets = config.lora_target_modules
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
        task_type=TaskType.SEQ_2_SEQ_LM if encoder_decoder else TaskType.CAUSAL_LM,
    )
    return get_peft_model(model, lora)


def checkpointing_arguments(enabled: bool) -> dict:
    """Activation checkpointing under the argument name this transformers version uses."""
    if not enabled:
        return {}
    names = TrainingArguments.__dataclass_fields__
    key = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    return {
        key: True,
        f"{key}_kwargs": {"use_reentrant": False},
    }  # non-reentrant: works with LoRA's frozen inputs


def training_arguments(config: TrainConfig, has_val: bool, bf16: bool, selected_by: str) -> TrainingArguments:
    scheduler = config.lr_scheduler
    if scheduler == "constant" and config.warmup_ratio > 0:
        scheduler = "constant_with_warmup"
    evaluate = config.eval_every_epoch and has_val
    keep_best = evaluate and selected_by != "last"
    return TrainingArguments(
        output_dir=str(config.checkpoint_dir),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        # Fused AdamW: one kernel over all tensors; on CPU the per-tensor loop cost SmolLM2 1.0 s of a
        # 3.8 s step, fused 0.1 s (benchmarks/results/train.md).
        optim="adamw_torch_fused",
        learning_rate=config.lr,
        lr_scheduler_type=scheduler,
        warmup_steps=0,  # set from warmup_ratio once the step count is known (StudentTrainer.create_scheduler)
        weight_decay=config.weight_decay,
        max_grad_norm=config.max_grad_norm,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        **checkpointing_arguments(config.gradient_checkpointing),
        ddp_find_unused_parameters=False,  # every parameter gets a gradient; the search costs a graph walk
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch",
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=keep_best,
        metric_for_best_model="selection" if keep_best else None,  # StudentTrainer.evaluate's score
        greater_is_better=True if keep_best else None,
        logging_strategy="steps" if config.logging_steps else "epoch",
        logging_steps=config.logging_steps or 500,
        report_to="none" if config.report_to == "none" else [r.strip() for r in config.report_to.split(",")],
        seed=config.seed,
        remove_unused_columns=False,  # our batches carry step-by-step fields the model signature lacks
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=True,  # and no PrinterCallback either: TrainProgress reports (train())
    )


def build_train_data(config: TrainConfig, tokenizer, rows: list[dict], encoder_decoder: bool):
    rows = select_rows(rows, config.method)
    if not rows:
        raise DataError(
            f"no rows usable for method {config.method!r} (ft_cot needs rows with a rationale)",
            path=Path(config.data_dir) / TRAIN_FILE,
        )
    if config.step_by_step:
        dataset, truncated = sbs.build_dataset(tokenizer, rows, encoder_decoder, config.max_length)
    else:
        dataset, truncated = build_dataset(tokenizer, rows, config.method, encoder_decoder, config.max_length)
    if truncated:
        log.warning(
            "%d of %d rows lose completion tokens to max_length=%d", truncated, len(rows), config.max_length
        )
    return rows, dataset, truncated


def run_format_check(config: TrainConfig, tokenizer, rows: list[dict], encoder_decoder: bool) -> None:
    if config.step_by_step:  # the answer task; the rationale task is the same rendering with another target
        rows = [{**r, "question": sbs.label_prompt_question(r["question"])} for r in rows]
        check_format(
            tokenizer, rows, method="vanilla", encoder_decoder=encoder_decoder, max_length=config.max_length
        )
    else:
        check_format(
            tokenizer,
            rows,
            method=config.method,
            encoder_decoder=encoder_decoder,
            max_length=config.max_length,
        )


def resume_checkpoint(config: TrainConfig) -> str | None:
    last = get_last_checkpoint(str(config.checkpoint_dir)) if config.checkpoint_dir.is_dir() else None
    if last and not config.resume:
        raise ConfigError(
            f"{config.checkpoint_dir} holds checkpoints: pass --resume to continue, or choose a new --out"
        )
    if config.resume and not last:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", config.checkpoint_dir)
    return last


# --- the entry point ----------------------------------------------------------------------------


def build_val_data(config: TrainConfig, tokenizer, val_rows: list[dict], encoder_decoder: bool):
    """The val rows tokenized as training rows are, for the val loss (ft_cot: those with a rationale)."""
    rows = select_rows(val_rows, config.method)
    if config.step_by_step:
        return sbs.build_dataset(tokenizer, rows, encoder_decoder, config.max_length)[0]
    return build_dataset(tokenizer, rows, config.method, encoder_decoder, config.max_length)[0]


def prepare(config: TrainConfig):
    """Everything `train` needs before the first step: rows, student, tokenized train and val data.

    `val_rows` are all the val questions (val loss takes every one that has a completion); `_train`
    has the first `val_limit` of them answered for val accuracy."""
    data_dir = Path(config.data_dir)
    rows = load_rows(data_dir / TRAIN_FILE)
    val_path = data_dir / VAL_FILE
    val_rows = load_rows(val_path) if val_path.is_file() and val_path.stat().st_size else []
    model, tokenizer, checkpoint, encoder_decoder = load_student(config)
    rows, dataset, truncated = build_train_data(config, tokenizer, rows, encoder_decoder)
    val_data = build_val_data(config, tokenizer, val_rows, encoder_decoder)
    return rows, val_rows, val_data, model, tokenizer, checkpoint, encoder_decoder, dataset, truncated


def check_format_only(config: TrainConfig) -> None:
    """The format check of `train` without loading weights (`ftcot train --check-format-only`)."""
    from transformers import AutoTokenizer

    from ftcot.models import is_encoder_decoder, local_checkpoint

    checkpoint = local_checkpoint(config.student)
    encoder_decoder = is_encoder_decoder(checkpoint, config.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=config.trust_remote_code)
    rows = select_rows(load_rows(Path(config.data_dir) / TRAIN_FILE), config.method)
    run_format_check(config, tokenizer, rows, encoder_decoder)


def train(config: TrainConfig, callbacks: list[TrainerCallback] | None = None) -> Path:
    """Fine-tune the student; write weights, tokenizer and manifest to `config.out`; return it."""
    with library_bars_off():  # TrainProgress reports
        return _train(config, callbacks)


def _train(config: TrainConfig, callbacks: list[TrainerCallback] | None) -> Path:
    out = Path(config.out)
    last = resume_checkpoint(config)
    rows, val_rows, val_data, model, tokenizer, checkpoint, encoder_decoder, dataset, truncated = prepare(
        config
    )
    answered = val_rows[: config.val_limit]  # None: all; 0: none (val loss only)
    selected_by = selection_criterion(config, answered, val_data)
    bf16, precision_chosen_by, probe = choose_precision(config.bf16)
    args = training_arguments(
        config, has_val=has_validation(answered, val_data), bf16=bf16, selected_by=selected_by
    )
    if config.check_format and args.process_index == 0:
        run_format_check(config, tokenizer, rows, encoder_decoder)
    if config.lora:
        model = add_lora(model, config, encoder_decoder)
    trainer = StudentTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        eval_dataset=dataset
        if args.eval_strategy != "no"
        else None,  # unused: evaluate() generates on val_rows
        data_collator=Collator(tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[*(callbacks or []), TrainProgress(progress_enabled(config.progress))],
        ftcot=config,
        val_rows=answered,
        val_data=val_data,
        selected_by=selected_by,
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log as a raw dict
    result = trainer.train(resume_from_checkpoint=last)
    save_student(trainer, tokenizer, out, config)  # every process: gathering sharded weights is collective
    if trainer.is_world_process_zero():
        manifest = build_manifest(
            config, trainer, result.metrics, checkpoint, encoder_decoder, rows, len(val_rows), truncated,
            val_loss_rows=len(val_data), precision_chosen_by=precision_chosen_by, precision_probe=probe,
        )  # fmt: skip
        write_manifest(out, manifest)
        if not config.keep_checkpoints:
            # The student and its manifest are on disk: the checkpoints only served a resume.
            shutil.rmtree(config.checkpoint_dir, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    return out


def save_student(trainer: Trainer, tokenizer, out: Path, config: TrainConfig) -> None:
    """safetensors weights + tokenizer in `out`; with LoRA also the adapter in `out/adapter`, merged weights in `out`.

    Called on every process. Under FSDP and DeepSpeed each process holds a shard of the weights, and
    the checkpoints are sharded too (they only serve a resume): the full weights are gathered here,
    which every process must join, and the main process writes one plain safetensors student that
    `ftcot eval` and `from_pretrained` load without the launcher."""
    accelerator = trainer.accelerator
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    state_dict = accelerator.get_state_dict(trainer.model) if sharded else None
    if not trainer.is_world_process_zero():
        return
    model = accelerator.unwrap_model(trainer.model)
    if config.lora:
        model.save_pretrained(out / "adapter", state_dict=state_dict)
        model = merged_lora_student(config, out / "adapter") if sharded else model.merge_and_unload()
        state_dict = None
    model.save_pretrained(out, state_dict=state_dict, safe_serialization=True)
    tokenizer.save_pretrained(out)


def merged_lora_student(config: TrainConfig, adapter: Path):
    """The base student with the saved adapter merged in, on the CPU: a sharded model cannot merge in place."""
    from peft import PeftModel

    base = load_student(config)[0]
    return PeftModel.from_pretrained(base, adapter).merge_and_unload()


# --- manifest -----------------------------------------------------------------------------------


def epoch_of(entry: dict) -> int:
    """The (1-based) epoch a log entry belongs to: an entry at epoch 2.0 ends epoch 2."""
    return max(1, math.ceil(entry["epoch"] - 1e-6))


def epoch_metrics(log_history: list[dict]) -> list[dict]:
    """Per epoch: mean of the logged train losses, and the val loss and val accuracy of its evaluation."""
    epochs: dict[int, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        epoch = epoch_of(entry)
        row = epochs.setdefault(epoch, {"epoch": epoch, "losses": []})
        if "loss" in entry:
            row["losses"].append(entry["loss"])
        if "eval_loss" in entry:
            row["val_loss"] = entry["eval_loss"]
        if "eval_accuracy" in entry:
            row.update(
                val_accuracy=entry["eval_accuracy"], val_correct=entry["eval_correct"], val_n=entry["eval_n"]
            )
    for row in epochs.values():
        losses = row.pop("losses")
        row["train_loss"] = sum(losses) / len(losses) if losses else None
    return [epochs[k] for k in sorted(epochs)]


def _count_parameters(model) -> dict:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable}


def student_format(config: TrainConfig) -> StudentFormat:
    """How the student must be prompted and scored (what `ftcot eval` reads): the format it was trained
    in, and a task prefix before each question (a step-by-step student answers its `[label] ` task)."""
    if config.step_by_step:
        return StudentFormat(method="vanilla", question_prefix=sbs.LABEL_PREFIX, trained_as="step_by_step")
    return StudentFormat(method=config.method, question_prefix="", trained_as=config.method)


SELECTION_WORDS = {"val_loss": "lowest val loss", "val_accuracy": "best val accuracy", "last": "last epoch"}


def selected_epoch(state, selected_by: str) -> int | None:
    """The epoch whose checkpoint became the model: the best checkpoint's, or the last epoch."""
    if selected_by != "last" and state.best_model_checkpoint:
        step = int(state.best_model_checkpoint.rsplit("-", 1)[1])
        for entry in state.log_history:
            if entry.get("step") == step and "eval_n" in entry:
                return epoch_of(entry)
    return epoch_of({"epoch": state.epoch}) if state.epoch else None


def build_manifest(
    config,
    trainer,
    train_metrics,
    checkpoint,
    encoder_decoder,
    rows,
    val_questions: int,
    truncated,
    *,
    val_loss_rows: int,
    precision_chosen_by: str,
    precision_probe: PrecisionProbe | None,
) -> TrainManifest:
    data_dir = Path(config.data_dir)
    state = trainer.state
    runtime = train_metrics.get("train_runtime") or 0.0
    epochs = [EpochRow(**row) for row in epoch_metrics(state.log_history)]
    selected_by = trainer.selected_by if state.best_model_checkpoint else "last"
    chosen = selected_epoch(state, selected_by)
    chosen_row = next((row for row in epochs if row.epoch == chosen), None)
    curated = load_manifest(data_dir)
    curated = curated if isinstance(curated, CurateManifest) else None  # data made by hand states nothing
    # The curate stage's facts (teacher, D, questions, rows), carried so that a report of this
    # student, or of its evaluation, reads them instead of guessing; None where curate stated none.
    dataset = curated.dataset if curated is not None and curated.dataset is not None else DatasetFacts()
    return TrainManifest(
        status="complete",  # written last, after the student is saved
        data=TrainData(
            dir=str(data_dir),
            train_sha256=sha256_of(data_dir / TRAIN_FILE),
            val_sha256=sha256_of(data_dir / VAL_FILE) if (data_dir / VAL_FILE).is_file() else None,
            train_rows=len(rows),
            val_questions=val_questions,  # the val split's (val loss takes them all), not the val_limit answered
            rows_truncated=truncated,
            curate=curated.yield_ if curated is not None else None,
        ),
        dataset=dataset.model_copy(update={"trained_rows": len(rows)}),
        student_format=student_format(config),
        model=StudentModel(
            student=config.student,
            checkpoint=str(checkpoint),
            encoder_decoder=encoder_decoder,
            **_count_parameters(trainer.model),
        ),
        hyperparameters=config.model_dump(mode="json"),
        precision="bf16" if trainer.args.bf16 else "fp32",
        precision_chosen_by=precision_chosen_by,
        precision_probe=precision_probe,
        world_size=trainer.args.world_size,
        distributed=trainer.accelerator.distributed_type.value,  # NO, MULTI_CPU, MULTI_GPU, FSDP, DEEPSPEED
        metrics=TrainMetrics(
            epochs=epochs,
            best_checkpoint=state.best_model_checkpoint,
            best_val_accuracy=chosen_row.val_accuracy
            if chosen_row is not None and selected_by == "val_accuracy"
            else None,
            selected_by=selected_by,
            selected_epoch=chosen,
            val_loss_rows=val_loss_rows,
            train_runtime_s=float(runtime),
            global_steps=state.global_step,
            train_tokens=int(state.num_input_tokens_seen),
            train_tokens_per_s=state.num_input_tokens_seen / runtime if runtime else None,
        ),
        selection=f"{SELECTION_WORDS[selected_by]}: epoch {chosen} of {len(epochs)}"
        if chosen
        else "last epoch",
    )
