"""Model selection on tiny students: val loss over every val row (the default), val accuracy, the last epoch."""

import json

import pytest
import torch

from ftcot.train import TrainConfig, train
from ftcot.train.data import Collator, build_dataset, load_rows
from ftcot.train.trainer import StudentTrainer

# fp32 pinned (no precision probe); 6 Fine-tune-CoT rows in batches of 3: 2 steps an epoch.
FAST = {"max_length": 64, "val_max_new_tokens": 4, "lr": 3e-3, "check_format": False, "bf16": False}


def train_tiny(student, data_dir, tmp_path, **settings):
    config = TrainConfig(
        data_dir=data_dir, student=student, out=tmp_path / "out", batch_size=3, **FAST, **settings
    )
    return train(config)


def metrics(out) -> dict:
    return json.loads((out / "manifest.json").read_text())["metrics"]


def scripted(monkeypatch, name: str, values: list) -> None:
    """StudentTrainer.<name> returns `values` one epoch after another."""
    it = iter(values)
    monkeypatch.setattr(StudentTrainer, name, lambda self: next(it))


def test_val_loss_selects_the_epoch_of_lowest_recorded_val_loss(tiny_decoder, data_dir, tmp_path):
    out = train_tiny(tiny_decoder, data_dir, tmp_path, epochs=3)
    m = metrics(out)
    losses = [e["val_loss"] for e in m["epochs"]]
    assert len(losses) == 3 and all(loss > 0 for loss in losses)
    lowest = min(losses)
    expected = max(i for i, loss in enumerate(losses, 1) if loss == lowest)  # ties: the later epoch
    assert m["selected_by"] == "val_loss" and m["selected_epoch"] == expected
    assert m["best_checkpoint"].endswith(f"checkpoint-{2 * expected}")
    assert m["val_loss_rows"] == 2 and m["best_val_accuracy"] is None
    assert all(e["val_n"] == 2 and e["val_accuracy"] is not None for e in m["epochs"])  # still reported

    # The recorded figure is the mean token loss over the val completions: the saved (selected)
    # student's own loss on both val rows in one batch gives it again.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    dataset, _ = build_dataset(tokenizer, load_rows(data_dir / "val.jsonl"), "ft_cot", False, 64)
    with torch.no_grad():
        loss = model(**Collator(tokenizer.pad_token_id)(dataset.features)).loss.item()
    assert loss == pytest.approx(losses[expected - 1], rel=1e-4)


@pytest.mark.parametrize(
    ("losses", "expected"),
    [([2.0, 1.0, 1.5], 2), ([2.0, 1.0, 1.0], 3)],  # the minimum, not the last; a tie goes to the later
    ids=["minimum", "tie"],
)
def test_val_loss_selection_follows_the_losses(
    tiny_decoder, data_dir, tmp_path, monkeypatch, losses, expected
):
    scripted(monkeypatch, "val_loss", losses)
    scripted(monkeypatch, "val_correct", [2, 0, 0])  # accuracy would pick epoch 1
    m = metrics(train_tiny(tiny_decoder, data_dir, tmp_path, epochs=3))
    assert [e["val_loss"] for e in m["epochs"]] == losses
    assert m["selected_by"] == "val_loss" and m["selected_epoch"] == expected
    assert m["best_checkpoint"].endswith(f"checkpoint-{2 * expected}")


def test_last_keeps_the_last_epoch_and_still_reports(tiny_decoder, data_dir, tmp_path, monkeypatch):
    scripted(monkeypatch, "val_loss", [1.0, 2.0, 3.0])
    out = train_tiny(tiny_decoder, data_dir, tmp_path, epochs=3, select_by="last")
    m = metrics(out)
    assert m["selected_by"] == "last" and m["selected_epoch"] == 3 and m["best_checkpoint"] is None
    assert [e["val_loss"] for e in m["epochs"]] == [1.0, 2.0, 3.0]
    assert json.loads((out / "manifest.json").read_text())["selection"] == "last epoch: epoch 3 of 3"


def test_val_accuracy_keeps_the_best_accuracy_ties_to_the_later(
    tiny_decoder, data_dir, tmp_path, monkeypatch
):
    scripted(monkeypatch, "val_loss", [3.0, 1.0, 2.0, 0.5])  # loss would pick epoch 4
    scripted(monkeypatch, "val_correct", [1, 2, 2, 0])  # of 2: 50, 100, 100, 0
    m = metrics(train_tiny(tiny_decoder, data_dir, tmp_path, epochs=4, select_by="val_accuracy"))
    assert [e["val_accuracy"] for e in m["epochs"]] == [50.0, 100.0, 100.0, 0.0]
    assert m["selected_by"] == "val_accuracy" and m["selected_epoch"] == 3
    assert m["best_val_accuracy"] == 100.0 and m["best_checkpoint"].endswith("checkpoint-6")


def test_val_loss_falls_back_to_accuracy_without_val_rationales(tiny_decoder, data_dir, tmp_path):
    rows = load_rows(data_dir / "val.jsonl")
    (data_dir / "val.jsonl").write_text("".join(json.dumps({**r, "rationale": None}) + "\n" for r in rows))
    m = metrics(train_tiny(tiny_decoder, data_dir, tmp_path, epochs=1))
    assert m["selected_by"] == "val_accuracy" and m["val_loss_rows"] == 0
    assert m["epochs"][0].get("val_loss") is None


def test_val_limit_caps_accuracy_not_loss(tiny_decoder, data_dir, tmp_path):
    m = metrics(train_tiny(tiny_decoder, data_dir, tmp_path, epochs=1, val_limit=1))
    assert m["epochs"][0]["val_n"] == 1 and m["val_loss_rows"] == 2


def test_val_limit_0_selects_by_loss_without_generating(tiny_decoder, data_dir, tmp_path, monkeypatch):
    def no_generation(self):
        raise AssertionError("val_limit 0 must not answer val questions")

    monkeypatch.setattr(StudentTrainer, "val_correct", no_generation)
    scripted(monkeypatch, "val_loss", [2.0, 1.0, 1.5])
    out = train_tiny(tiny_decoder, data_dir, tmp_path, epochs=3, val_limit=0)
    m = metrics(out)
    assert json.loads((out / "manifest.json").read_text())["data"]["val_questions"] == 2  # still validated on
    assert [e["val_loss"] for e in m["epochs"]] == [2.0, 1.0, 1.5]
    assert all(e.get("val_accuracy") is None for e in m["epochs"])
    assert m["selected_by"] == "val_loss" and m["selected_epoch"] == 2
    assert m["best_checkpoint"].endswith("checkpoint-4")


def test_val_limit_0_cannot_select_by_accuracy(data_dir, tmp_path):
    from ftcot.errors import ConfigError

    with pytest.raises(ConfigError, match="val_limit 0"):
        TrainConfig(data_dir=data_dir, student="x", out=tmp_path, val_limit=0, select_by="val_accuracy")


@pytest.mark.parametrize("student", ["tiny_decoder", "tiny_encoder_decoder"])
def test_val_loss_sums_are_the_models_own_loss(student, data_dir, request):
    """Decoder (shifted) and encoder-decoder (not shifted) alike: the summed token loss over the
    tokens is the model's mean loss, and a row marked not to keep counts for nothing."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from ftcot.train.validate import loss_sums, mean_loss

    encoder_decoder = student == "tiny_encoder_decoder"
    folder = request.getfixturevalue(student)
    cls = AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM
    model = cls.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    dataset, _ = build_dataset(
        tokenizer, load_rows(data_dir / "train.jsonl")[:3], "ft_cot", encoder_decoder, 64
    )
    collate = Collator(tokenizer.pad_token_id)
    batch = collate(dataset.features)
    with torch.no_grad():
        expected = model(**batch).loss.item()
    sums = loss_sums(model, batch, torch.tensor([True, True, True]))
    assert mean_loss(sums, None) == pytest.approx(expected, rel=1e-5)
    first_only = loss_sums(model, batch, torch.tensor([True, False, False]))
    alone = loss_sums(model, collate(dataset.features[:1]), torch.tensor([True]))
    assert torch.allclose(first_only[""], alone[""], rtol=1e-4)


def test_step_by_step_val_loss_is_its_training_objective():
    from ftcot.train.validate import mean_loss

    sums = {"": torch.tensor([6.0, 3.0]), "rationale_": torch.tensor([40.0, 10.0])}
    assert mean_loss(sums, 0.5) == pytest.approx(2.0 + 0.5 * 4.0)
    assert mean_loss({"": torch.tensor([0.0, 0.0])}, None) is None  # no tokens: no loss
