"""A local transformers model as teacher: batched generation with left padding.

The model loads on first use through `ftcot.models.load_model` (HF id, folder, .gguf or a
bundled name), in a worker thread so the event loop keeps serving. The engine's
micro-batcher gathers up to `batch_size` prompts per call; n samples per prompt come from
`num_return_sequences`.
"""

from __future__ import annotations

import asyncio
import threading

from ftcot.teach.backends.base import Backend, Generation, SamplingParams


class HFBackend(Backend):
    name = "hf"
    supports_n = True

    def __init__(self, model: str, *, batch_size: int = 8, chat: bool = True, device: str | None = None):
        super().__init__(model)
        self.max_batch = batch_size
        self.max_n = batch_size
        self.chat = chat
        self.device = device
        self._loaded = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._loaded is None:
                from ftcot.models import load_model

                model, tokenizer = load_model(self.model, device=self.device)
                tokenizer.padding_side = (
                    "left"  # decoder-only: pad on the left so generation continues the prompt
                )
                self._loaded = (model, tokenizer)
        return self._loaded

    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        return await asyncio.to_thread(self._generate, prompts, params)

    def _render(self, tokenizer, prompt: str) -> str:
        if not self.chat or not getattr(tokenizer, "chat_template", None):
            return prompt  # raw text, or a base model without a chat template
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        import torch

        model, tokenizer = self._load()
        batch = tokenizer([self._render(tokenizer, p) for p in prompts], return_tensors="pt", padding=True)
        batch = batch.to(model.device)
        options = {"max_new_tokens": params.max_tokens, "num_return_sequences": params.n}
        if params.temperature > 0:
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            options.update(stop_strings=list(params.stop), tokenizer=tokenizer)
        with torch.no_grad():
            output = model.generate(**batch, **options, pad_token_id=tokenizer.pad_token_id)
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        prompt_lengths = batch["attention_mask"].sum(dim=1).tolist()
        results: list[list[Generation]] = [[] for _ in prompts]
        for row, tokens in enumerate(new_tokens.tolist()):
            i = row // params.n
            text, count, finish = self._decode(tokenizer, tokens, params)
            first = not results[i]
            results[i].append(Generation(text, finish, prompt_lengths[i] if first else 0, count))
        return results

    @staticmethod
    def _decode(tokenizer, tokens: list[int], params: SamplingParams) -> tuple[str, int, str]:
        """Text up to the end-of-sequence token or a stop string; the number of tokens; the finish reason."""
        eos = tokenizer.eos_token_id
        eos_ids = set(eos) if isinstance(eos, list) else {eos}
        count = next((k for k, t in enumerate(tokens) if t in eos_ids), None)
        finish = "stop" if count is not None else "length"
        count = len(tokens) if count is None else count
        text = tokenizer.decode(tokens[:count], skip_special_tokens=True)
        for stop in params.stop:
            if stop in text:
                text, finish = text[: text.index(stop)], "stop"
        return text, count, finish
