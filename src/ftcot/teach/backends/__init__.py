"""Teacher backends and the teacher specs a user types.

openai:MODEL        any OpenAI-compatible server (--base-url, key from --api-key-env)
hf:MODEL_OR_DIR     a local transformers model (HF id, folder, .gguf, or a bundled name like smollm2)
llamacpp:FILE.gguf  llama.cpp's llama-server, started by ftcot (a .gguf path or a bundled name);
                    llama-cpp-python in process when no llama-server is built
vllm:MODEL          vLLM in process, for GPUs (--tensor-parallel-size)
recorded            text-davinci-002's Zero-shot-CoT logs (no generation)
recorded:NAME       a live teacher's diverse rationales shipped with ftcot (ftcot.teach.recordings)
"""

from __future__ import annotations

import logging

from ftcot.errors import ConfigError
from ftcot.teach.backends.base import Backend, Generation, RequestRefused, RetryableError, SamplingParams

__all__ = [
    "Backend",
    "Generation",
    "RequestRefused",
    "RetryableError",
    "SamplingParams",
    "get_backend",
    "parse_teacher",
]

log = logging.getLogger(__name__)

KINDS = ("openai", "hf", "llamacpp", "vllm", "recorded")


def parse_teacher(spec: str) -> tuple[str, str]:
    """('openai', 'gpt-4o-mini') from 'openai:gpt-4o-mini'; ('recorded', 'text-davinci-002') from 'recorded'."""
    if spec in ("recorded", "recorded:text-davinci-002"):
        return "recorded", "text-davinci-002"
    kind, sep, model = spec.partition(":")
    if not sep or kind not in KINDS or not model:
        raise ConfigError(
            f"teacher {spec!r} is not BACKEND:MODEL; use openai:MODEL, hf:MODEL_OR_DIR, "
            "llamacpp:FILE.gguf, vllm:MODEL, recorded or recorded:NAME"
        )
    return kind, model


def get_backend(
    spec: str,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    chat: bool = True,
    timeout: float = 120.0,
    batch_size: int = 8,
    tensor_parallel_size: int = 1,
) -> Backend:
    """A backend for a teacher spec. Heavy libraries are imported only for the backend asked for."""
    kind, model = parse_teacher(spec)
    if kind == "openai":
        from ftcot.teach.backends.openai_backend import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url, api_key_env=api_key_env, chat=chat, timeout=timeout)
    if kind == "hf":
        from ftcot.teach.backends.hf import HFBackend

        return HFBackend(model, batch_size=batch_size, chat=chat)
    if kind == "llamacpp":
        from ftcot.teach.backends.llama_server import LlamaServerBackend, server_binary

        if server_binary() is not None:
            return LlamaServerBackend(model, chat=chat)
        from ftcot.teach.backends.llamacpp import LlamaCppBackend

        log.warning(
            "no llama-server found (`ftcot setup llama-server` builds one): llamacpp runs in process, one request at a time"
        )
        return LlamaCppBackend(model, chat=chat)
    if kind == "vllm":
        from ftcot.teach.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model, tensor_parallel_size=tensor_parallel_size, chat=chat)
    raise ConfigError("the recorded teacher replays logs and has no backend; the driver reads it directly")
