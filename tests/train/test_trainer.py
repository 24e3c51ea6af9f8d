"""Real training steps on tiny randomly initialised students: loss, outputs, LoRA, T5, resume, selection."""

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from ftcot.errors import ConfigError
from ftcot.train import TrainConfig, train
from ftcot.train.data import load_rows
from ftcot.train.validate import score_rows

# fp32 pinned: the default (bf16 where the CPU probe measures it faster) would make these tests depend
# on the machine, and would time matrix products in each first run.
FAST = {"max_length": 64, "val_max_new_tokens": 4, "lr": 3e-3, "check_format": False, "bf16": False}


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


def train_tiny(student, data_dir, tmp_path, callbacks=None, **settings) -> Path:
    """Train a tiny student into tmp_path/out with the FAST settings, batch 3, and any overrides."""
    config = TrainConfig(
        data_dir=data_dir, student=student, out=tmp_path / "out", **{"batch_size": 3, **FAST, **settings}
    )
    return train(config, callbacks=callbacks)


def losses(out) -> list[float]:
    return [e["train_loss"] for e in manifest(out)["metrics"]["epochs"]]


def test_full_finetune_lowers_the_loss_and_writes_a_student(tiny_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_decoder, data_dir, tmp_path, epochs=4)
    history = manifest(out)["metrics"]["epochs"]
    assert [e["epoch"] for e in history] == [1, 2, 3, 4]
    assert history[-1]["train_loss"] < history[0]["train_loss"] - 0.5
    assert all(e["val_n"] == 2 and "val_accuracy" in e for e in history)
    m = manifest(out)
    assert m["data"]["train_rows"] == 6  # the row without a rationale is not a Fine-tune-CoT sample
    assert m["hyperparameters"]["method"] == "ft_cot" and m["code"]["ftcot"]
    assert m["metrics"]["train_tokens"] > 0 and m["metrics"]["best_checkpoint"]
    weights = load_file(out / "model.safetensors")
    assert "model.embed_tokens.weight" in weights
    assert (out / "tokenizer.json").is_file()
    # A finished run drops its resume checkpoints: they hold the optimizer state, 3x the weights.
    assert not (out / "checkpoints").exists()


def test_bf16_autocast_trains_on_cpu(tiny_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_decoder, data_dir, tmp_path, epochs=3, eval_every_epoch=False, bf16=True)
    m = manifest(out)
    assert m["precision"] == "bf16"
    history = m["metrics"]["epochs"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    # Master weights stay fp32: autocast computes in bf16, the optimizer updates fp32.
    assert load_file(out / "model.safetensors")["model.embed_tokens.weight"].dtype == torch.float32


class _Memorise(TrainerCallback):
    """Records each epoch's val accuracy as the Trainer logged it."""

    def __init__(self):
        self.accuracies = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.accuracies.append(metrics["eval_accuracy"])


def test_val_accuracy_is_real_and_the_best_epoch_is_kept(tiny_decoder, data_dir, tmp_path):
    """The vanilla student memorises 7 one-token answers; val accuracy must see it through the answer checker."""
    seen = _Memorise()
    out = train_tiny(
        tiny_decoder,
        data_dir,
        tmp_path,
        callbacks=[seen],
        method="vanilla",
        select_by="val_accuracy",
        epochs=25,
        batch_size=7,
        save_total_limit=1,
        lr=1e-2,
    )
    m = manifest(out)["metrics"]
    assert seen.accuracies[0] < 100 and max(seen.accuracies) == 100.0
    assert m["best_val_accuracy"] == 100.0 and m["selected_by"] == "val_accuracy"
    # Ties go to the later epoch: the best is the last epoch that reached the top accuracy.
    best_epoch = len(seen.accuracies) - seen.accuracies[::-1].index(100.0)
    assert m["best_checkpoint"].endswith(f"checkpoint-{best_epoch}") and m["selected_epoch"] == best_epoch
    # The saved student is the best epoch's: it answers both val questions right.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    correct, results = score_rows(
        model,
        tokenizer,
        load_rows(data_dir / "val.jsonl"),
        method="vanilla",
        step_by_step=False,
        max_new_tokens=4,
        batch_size=2,
    )
    assert correct == 2, results


def test_lora_saves_the_adapter_and_merged_weights(tiny_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_decoder, data_dir, tmp_path, lora=True, epochs=2, keep_checkpoints=True, lr=1e-2)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir())  # kept on request
    merged = load_file(out / "model.safetensors")
    assert not any("lora" in k for k in merged)
    base = load_file(f"{tiny_decoder}/model.safetensors")
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged[q], base[q])  # the adapter was trained and merged in
    assert torch.equal(merged["model.embed_tokens.weight"], base["model.embed_tokens.weight"])  # frozen
    m = manifest(out)["model"]
    assert m["trainable"] < m["parameters"] / 10


def test_encoder_decoder_student_trains(tiny_encoder_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_encoder_decoder, data_dir, tmp_path, epochs=3)
    history = losses(out)
    assert history[-1] < history[0] - 0.5
    assert manifest(out)["model"]["encoder_decoder"] is True


def test_step_by_step_trains_both_tasks(tiny_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_decoder, data_dir, tmp_path, step_by_step=True, sbs_alpha=0.5, epochs=3)
    history = losses(out)
    assert history[-1] < history[0] - 0.5


class _CrashAfterFirstSave(TrainerCallback):
    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt("simulated crash after the first checkpoint")


class _CountSteps(TrainerCallback):
    count = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.count += 1


def test_resume_after_a_crash_gives_the_same_weights(tiny_decoder, data_dir, tmp_path):
    common = dict(
        data_dir=data_dir, student=tiny_decoder, epochs=2, batch_size=2, eval_every_epoch=False, **FAST
    )
    straight = train(TrainConfig(out=tmp_path / "straight", **common))
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(out=tmp_path / "crashed", **common), callbacks=[_CrashAfterFirstSave()])
    assert not (tmp_path / "crashed" / "model.safetensors").exists()
    with pytest.raises(ConfigError, match="--resume"):
        train(TrainConfig(out=tmp_path / "crashed", **common))
    steps = _CountSteps()
    resumed = train(TrainConfig(out=tmp_path / "crashed", resume=True, **common), callbacks=[steps])
    assert steps.count == 3  # only the second epoch ran: 6 rows, batch 2
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    assert manifest(resumed)["metrics"]["global_steps"] == manifest(straight)["metrics"]["global_steps"]


def test_paper_preset_fills_only_unset_fields(tmp_path):
    config = TrainConfig(data_dir=tmp_path, student="x", out=tmp_path, preset="paper", lr=1e-4)
    assert (config.epochs, config.batch_size, config.max_length, config.lr_scheduler) == (
        20,
        8,
        512,
        "constant",
    )
    assert config.lr == 1e-4
    with pytest.raises(ConfigError, match="step-by-step"):
        TrainConfig(data_dir=tmp_path, student="x", out=tmp_path, method="vanilla", step_by_step=True)


def test_cli_trains_the_vanilla_baseline_with_one_flag(tiny_decoder, data_dir, tmp_path):
    from typer.testing import CliRunner

    from ftcot.cli import app

    args = [
        "train",
        str(data_dir),
        "--student",
        tiny_decoder,
        "--epochs",
        "1",
        "--max-length",
        "64",
        "--val-max-new-tokens",
        "4",
    ]
    for method in ("ft_cot", "vanilla"):
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / method), "--method", method])
        assert result.exit_code == 0, result.output
        m = manifest(tmp_path / method)
        assert m["hyperparameters"]["method"] == method
    assert manifest(tmp_path / "ft_cot")["data"]["train_rows"] == 6
    assert manifest(tmp_path / "vanilla")["data"]["train_rows"] == 7


class _LearningRates(TrainerCallback):
    """The scheduler's learning rate as each optimizer step begins."""

    def __init__(self):
        self.rates = []

    def on_step_begin(self, args, state, control, lr_scheduler=None, **kwargs):
        self.rates.append(lr_scheduler.get_last_lr()[0])


def _warmup_steps_before_transformers_5(self, num_training_steps):
    """transformers 4.x (the rule on the declared floor): warmup_steps > 0 is a step count, even 0.25."""
    return self.warmup_steps if self.warmup_steps > 0 else math.ceil(num_training_steps * self.warmup_ratio)


@pytest.mark.parametrize("rule", ["installed", "transformers 4"])
def test_warmup_ratio_warms_up_on_every_transformers_version(
    tiny_decoder, data_dir, tmp_path, monkeypatch, rule
):
    from transformers import TrainingArguments

    if rule == "transformers 4":
        monkeypatch.setattr(TrainingArguments, "warmup_ratio", 0.0, raising=False)
        monkeypatch.setattr(TrainingArguments, "get_warmup_steps", _warmup_steps_before_transformers_5)
    seen = _LearningRates()
    train_tiny(tiny_decoder, data_dir, tmp_path, callbacks=[seen], max_steps=8, warmup_ratio=0.25,
               eval_every_epoch=False, lr=1e-3)  # fmt: skip
    # 8 steps, a quarter of them warming up linearly from 0, then the constant rate.
    assert seen.rates == pytest.approx([0.0, 5e-4] + [1e-3] * 6)


def test_tied_embeddings_reload_equal_and_quietly(tokenizer, data_dir, tmp_path):
    """SmolLM2 ties lm_head to the embedding: checkpoints store it once, so reloading the best epoch
    reports lm_head.weight as missing. The tie must survive the reload (and the save) and say nothing."""
    import logging

    from transformers import LlamaForCausalLM

    from ftcot.models import load_model
    from tests.tiny_models import tiny_llama_config

    config = tiny_llama_config(tokenizer)
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    student = tmp_path / "tied"
    LlamaForCausalLM(config).save_pretrained(student)
    tokenizer.save_pretrained(student)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("transformers").addHandler(handler)
    try:
        out = train_tiny(str(student), data_dir, tmp_path, epochs=2)  # evaluates each epoch, reloads the best
    finally:
        logging.getLogger("transformers").removeHandler(handler)
    assert manifest(out)["metrics"]["best_checkpoint"]
    assert not [m for m in messages if "missing keys" in m], messages
    model, _ = load_model(str(out))
    assert model.lm_head.weight is model.model.embed_tokens.weight
    trained = load_file(out / "model.safetensors")["model.embed_tokens.weight"]
    assert not torch.equal(trained, load_file(student / "model.safetensors")["model.embed_tokens.weight"])
    assert torch.equal(model.lm_head.weight, trained)  # the trained embedding is the output layer
