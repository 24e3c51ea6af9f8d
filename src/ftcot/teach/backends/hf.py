"""A local transformers model as teacher: batched generation with left padding.

The model loads on first use through `ftcot.models.load_model` (HF id, folder, .gguf or a
bundled name), in a worker thread so the event loop keeps serving. The engine's
micro-batcher gathers up to `batch_size` prompts per call; decoding is `ftcot.generation`'s,
the same loop evaluation uses.
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

    @property
    def loaded(self):
        """(model, tokenizer) once the first request has loaded them; None before."""
        return self._loaded

    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        return await asyncio.to_thread(self._generate, prompts, params)

    def _render(self, tokenizer, prompt: str) -> str:
        if not self.chat or not getattr(tokenizer, "chat_template", None):
            return prompt  # raw text, or a base model without a chat template
        messages = [{"role": "user", "content": prompt}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        from ftcot.generation import generate

        model, tokenizer = self._load()
        n = params.n
        outputs = generate(
            model,
            tokenizer,
            [self._render(tokenizer, p) for p in prompts],
            max_new_tokens=params.max_tokens,
            batch_size=len(prompts) * n,  # the engine's micro-batcher already sized the batch
            stop=params.stop,
            temperature=params.temperature,
            top_p=params.top_p,
            n=n,
        )
        # The n samples of a prompt share its prompt: count its tokens once, as an API bills them.
        return [
            [Generation(g.text, g.finish_reason, g.prompt_tokens if k == 0 else 0, g.completion_tokens)
             for k, g in enumerate(outputs[i * n : (i + 1) * n])]
            for i in range(len(prompts))
        ]  # fmt: skip
