"""llama-cpp-python in process: GGUF teachers on CPU (optional extra `ftcot[llamacpp]`).

One Llama object serves one request at a time, so the engine sends one prompt per call;
n samples are n calls. The model loads on first use.
"""

from __future__ import annotations

import asyncio
import os
import threading

from ftcot.errors import ConfigError
from ftcot.teach.backends.base import Backend, Generation, SamplingParams


class LlamaCppBackend(Backend):
    name = "llamacpp"

    def __init__(self, model: str, *, chat: bool = True, n_ctx: int = 2048, seed: int = 0):
        super().__init__(model)
        try:
            import llama_cpp  # noqa: F401
        except ImportError as e:
            raise ConfigError(
                "the llamacpp teacher needs llama-cpp-python: pip install 'ftcot[llamacpp]'"
            ) from e
        self.chat = chat
        self.n_ctx = n_ctx
        self.seed = seed
        self._llm = None
        self._lock = threading.Lock()  # a Llama context is not thread-safe

    def _load(self):
        if self._llm is None:
            from llama_cpp import Llama

            from ftcot.models import gguf_file

            path = gguf_file(self.model)
            self._llm = Llama(
                model_path=str(path),
                n_ctx=self.n_ctx,
                seed=self.seed,
                verbose=False,
                n_threads=os.cpu_count(),
            )
        return self._llm

    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        return await asyncio.to_thread(self._generate, prompts, params)

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        with self._lock:
            llm = self._load()
            return [[self._one(llm, p, params, first=k == 0) for k in range(params.n)] for p in prompts]

    def _one(self, llm, prompt: str, params: SamplingParams, first: bool) -> Generation:
        options = {
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "stop": list(params.stop) or None,
        }
        if self.chat:
            reply = llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], **options)
            text = reply["choices"][0]["message"]["content"] or ""
        else:
            reply = llm.create_completion(prompt=prompt, **options)
            text = reply["choices"][0]["text"]
        usage = reply.get("usage", {})
        return Generation(
            text,
            reply["choices"][0].get("finish_reason"),
            usage.get("prompt_tokens", 0) if first else 0,
            usage.get("completion_tokens", 0),
        )
