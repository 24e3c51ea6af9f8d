"""Model FLOPs utilisation of the student fine-tune on one GPU, bf16 mixed precision. Prints JSON.

MFU = achieved model FLOP/s / peak bf16 FLOP/s, with the PaLM count per trained token:
6 * N (N = parameters; SmolLM2 ties its embedding to the output layer, so N counts that
matmul once) + 12 * layers * hidden * seq (attention scores and values). Peak dense bf16:
H100 SXM / H200 989e12 (override with --peak). Each shape is timed over --steps optimizer
steps (forward, backward, fused AdamW) after --warmup steps, on random token ids (MFU does
not depend on the values) with every position trained and no padding.

The architecture is SmolLM2-135M's (LlamaConfig below), randomly initialised, so the script
needs only torch and transformers on the GPU machine; pass --checkpoint to use real weights.

    python benchmarks/train_mfu_gpu.py                 # < 3 minutes on an H100
    python benchmarks/train_mfu_gpu.py --shapes 8x128,16x512 --compile
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ftcot.train.precision import cpu_model

SMOLLM2_135M = dict(  # SmolLM2-135M-Instruct's config.json
    vocab_size=49152,
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    hidden_act="silu",
)


def build_model(checkpoint: str | None):
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    if checkpoint:
        return AutoModelForCausalLM.from_pretrained(
            checkpoint, dtype=torch.float32, attn_implementation="sdpa"
        )
    return LlamaForCausalLM(LlamaConfig(**SMOLLM2_135M, attn_implementation="sdpa"))


def flops_per_token(model, seq: int) -> float:
    config = model.config
    n = sum(p.numel() for p in model.parameters())
    return 6 * n + 12 * config.num_hidden_layers * config.hidden_size * seq


def chunked_lm_loss(model, ids: torch.Tensor, chunk_tokens: int = 8192) -> torch.Tensor:
    """Next-token loss without materialising all fp32 logits: the head and the loss run chunk by chunk."""
    hidden = model.model(input_ids=ids).last_hidden_state[:, :-1].reshape(-1, model.config.hidden_size)
    targets = ids[:, 1:].reshape(-1)
    total = hidden.new_zeros((), dtype=torch.float32)
    for h, t in zip(hidden.split(chunk_tokens), targets.split(chunk_tokens), strict=True):
        total = total + torch.nn.functional.cross_entropy(model.lm_head(h).float(), t, reduction="sum")
    return total / targets.numel()


def time_shape(model, optimizer, batch: int, seq: int, steps: int, warmup: int, loss_fn=None) -> dict:
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = loss_fn(ids) if loss_fn is not None else model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    tokens_per_s = batch * seq / seconds
    return {
        "batch": batch,
        "seq": seq,
        "step_ms": round(seconds * 1000, 2),
        "tokens_per_s": round(tokens_per_s),
        "model_tflops": round(flops_per_token(model, seq) * tokens_per_s / 1e12, 1),
        "peak_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", help="a local checkpoint folder (default: random SmolLM2-135M)")
    parser.add_argument(
        "--shapes", default="8x128,8x512,32x512,16x2048", help="batch x sequence length, comma list"
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peak", type=float, default=989e12, help="peak dense bf16 FLOP/s of the GPU")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument(
        "--chunked-loss", action="store_true", help="LM head + loss in chunks, no full fp32 logits"
    )
    parser.add_argument(
        "--bf16-weights", action="store_true", help="bf16 parameters and optimizer state (no fp32 master)"
    )
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    model = build_model(args.checkpoint).cuda().train()
    if args.bf16_weights:
        model = model.to(torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    loss_fn = None
    if args.chunked_loss:
        loss_fn = (
            torch.compile(lambda ids: chunked_lm_loss(model, ids))
            if args.compile
            else (lambda ids: chunked_lm_loss(model, ids))
        )
    elif args.compile:
        model = torch.compile(model)
    results = []
    for shape in args.shapes.split(","):
        batch, seq = (int(x) for x in shape.lower().split("x"))
        result = time_shape(model, optimizer, batch, seq, args.steps, args.warmup, loss_fn)
        result["mfu"] = round(result["model_tflops"] * 1e12 / args.peak, 4)
        results.append(result)
    print(
        json.dumps(
            {
                "benchmark": "train_mfu_gpu",
                "gpu": torch.cuda.get_device_name(),
                "cpu": cpu_model(),
                "torch": torch.__version__,
                "precision": (
                    "bf16 weights and optimizer state"
                    if args.bf16_weights
                    else "bf16 autocast, fp32 master weights"
                )
                + ", fused AdamW",
                "compile": args.compile,
                "chunked_loss": args.chunked_loss,
                "parameters": sum(p.numel() for p in model.parameters()),
                "peak_flops": args.peak,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
