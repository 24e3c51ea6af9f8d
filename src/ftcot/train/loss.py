"""The training loss of a decoder student, with logits only at the positions that predict a completion token.

A training row is `prompt + completion` with the prompt's labels set to -100 (`ftcot.train.data`), so no
prompt position but the last predicts a trained token. The model's own loss still projects every position
onto the vocabulary (49k words for SmolLM2) and takes an fp32 log-softmax of it, forward and backward: on
MultiArith the prompt is about 36% of the tokens, and that log-softmax was a fifth of a CPU step.

`completion_loss` asks the model's own forward (so per-architecture details such as logit soft-capping stay
the model's) for the logits from the batch's first position whose next label is trained, through
transformers' `logits_to_keep`, and takes the shifted cross-entropy there as transformers' `ForCausalLMLoss`
does: in fp32, summed over the trained tokens and divided by `num_items_in_batch` when given, else their
mean. Loss and gradients are those of the full computation; only never-trained positions are skipped.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from ftcot.train.data import IGNORE_INDEX


def keeps_logits(model) -> bool:
    """Whether `completion_loss` applies to `model` (unwrapped from DDP/accelerate): a decoder whose forward
    takes `logits_to_keep`, bare or under a peft adapter that passes it on (LoRA does; prompt learning adds
    virtual tokens and takes the model's own loss)."""
    if hasattr(model, "active_peft_config") and hasattr(model, "get_base_model"):
        if model.active_peft_config.is_prompt_learning:
            return False
        model = model.get_base_model()
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    return "logits_to_keep" in inspect.signature(model.forward).parameters


def completion_loss(model, inputs: dict, num_items_in_batch: torch.Tensor | int | None = None):
    """(loss, outputs) of a decoder batch (`input_ids`, `attention_mask`, `labels`); `outputs.logits` covers
    only the last positions of the sequence, from the first one (over the rows) that predicts a label."""
    labels = inputs["labels"]
    predicting = (labels[:, 1:] != IGNORE_INDEX).any(dim=0).nonzero()
    start = int(predicting[0]) if len(predicting) else 0  # none: keep all, as the full loss would
    features = {k: v for k, v in inputs.items() if k != "labels"}
    outputs = model(**features, logits_to_keep=labels.size(1) - start)
    logits = outputs.logits.float()
    targets = F.pad(labels[:, start + 1 :], (0, 1), value=IGNORE_INDEX).to(logits.device)
    loss = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="mean" if num_items_in_batch is None else "sum",
    )
    if num_items_in_batch is not None:
        if torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss, outputs
