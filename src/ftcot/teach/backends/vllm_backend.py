"""vLLM in process for GPU throughput (optional extra `ftcot[vllm]`); tensor parallel for big teachers.

vLLM batches continuously inside one `generate` call, so the engine hands it large batches.
vLLM is imported when the backend is created, never when ftcot is imported.
"""

from __future__ import annotations

import asyncio

from ftcot.errors import ConfigError
from ftcot.teach.backends.base import Backend, Generation, SamplingParams


class VLLMBackend(Backend):
    name = "vllm"
    supports_n = True
    max_batch = 256
    max_n = 256

    def __init__(self, model: str, *, tensor_parallel_size: int = 1, chat: bool = True, **engine_options):
        super().__init__(model)
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise ConfigError("the vllm teacher needs vLLM and a GPU: pip install 'ftcot[vllm]'") from e
        self.chat = chat
        self.tensor_parallel_size = tensor_parallel_size
        self.engine_options = engine_options
        self._llm = None

    def describe(self) -> dict:
        return {**super().describe(), "tensor_parallel_size": self.tensor_parallel_size}

    def _load(self):
        if self._llm is None:
            from vllm import LLM

            self._llm = LLM(
                model=self.model, tensor_parallel_size=self.tensor_parallel_size, **self.engine_options
            )
        return self._llm

    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        return await asyncio.to_thread(self._generate, prompts, params)

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        from vllm import SamplingParams as VllmParams

        llm = self._load()
        sampling = VllmParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_tokens,
            stop=list(params.stop) or None,
        )
        if self.chat:
            outputs = llm.chat([[{"role": "user", "content": p}] for p in prompts], sampling, use_tqdm=False)
        else:
            outputs = llm.generate(prompts, sampling, use_tqdm=False)
        return [
            [
                Generation(
                    o.text, o.finish_reason, len(out.prompt_token_ids) if j == 0 else 0, len(o.token_ids)
                )
                for j, o in enumerate(out.outputs)
            ]
            for out in outputs
        ]
