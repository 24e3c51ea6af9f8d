"""The one interface every teacher backend implements: prompts in, n generations per prompt out.

Backends know nothing about tasks, caches or rate limits: the engine (`ftcot.teach.engine`)
adds those around them. A backend raises `RetryableError` for faults worth another try
(rate limits, server errors, timeouts, dropped connections, unreadable replies) and
`RequestRefused` for requests that cannot succeed as sent (bad key, bad request, unknown model).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ftcot.errors import FtcotError
from ftcot.redact import redact, redact_url  # noqa: F401 - re-exported for older imports


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 128
    stop: tuple[str, ...] = ()
    n: int = 1  # samples per prompt; not part of the cache key (each sample has its own index)

    def key_fields(self) -> dict:
        """What changes a generation: everything but n."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "stop": list(self.stop),
        }

    @cached_property
    def key_json(self) -> str:
        return json.dumps(self.key_fields(), sort_keys=True)

    def with_n(self, n: int) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_tokens, self.stop, n)


@dataclass
class Generation:
    text: str
    finish_reason: str | None = None  # stop | length | content_filter | ...
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = field(default=False, compare=False)  # served from the cache, not the backend


class RetryableError(FtcotError):
    """A fault that another try may fix. `retry_after` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "error",
        retry_after: float | None = None,
        rate_limited: bool = False,
    ):
        super().__init__(message)
        self.kind = kind  # a short label for counts: '429', '503', 'timeout', 'connection', 'malformed'
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class RequestRefused(FtcotError):
    """The backend refused a request that cannot succeed as sent: the run stops at once."""


class Backend(ABC):
    """A teacher model. `remote` backends go through the throttle; local ones are batched."""

    name: str = "base"
    remote: bool = False
    supports_n: bool = False  # can return n samples of one prompt in one call (prompt paid once)
    max_batch: int = 1  # prompts per generate() call that the engine should gather
    max_n: int = 1  # samples per prompt in one call, when supports_n
    chat: bool = False  # prompts are sent as a user message (chat template) rather than as raw text
    max_in_flight: int | None = None  # requests worth sending at once (a local server's slots); None: no cap
    # Seconds one attempt may take, when the backend knows better than --timeout: a local server
    # under load is slow, not lost, and an attempt cut off is work thrown away and done again.
    request_timeout: float | None = None

    def __init__(self, model: str):
        self.model = model

    @cached_property
    def cache_model(self) -> str:
        """Read once per run: a model folder's name stats its weight files, and every request asks."""
        return cache_model_name(self.model, self.chat)

    @abstractmethod
    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """params.n generations for each prompt, in order."""

    async def aclose(self) -> None:  # noqa: B027 - most backends hold nothing to close
        pass

    def describe(self) -> dict:
        """What the manifest records about this backend: never secrets."""
        return {"backend": self.name, "model": self.model, "chat": self.chat}


def cache_model_name(model: str, chat: bool) -> str:
    """The model as the cache knows it: the chat template changes every output, so it is part of it.
    A model folder's weights change when it is trained again: its weight files' sizes and times
    are part of the name too, so no reply of older weights is ever reused."""
    name = f"{model}#chat" if chat else model
    folder = Path(model)
    if not folder.is_dir():
        return name  # a bundled name, a hub id or a served model: fixed weights
    weights = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin"), *folder.glob("*.gguf")])
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights]
    return f"{name}@{hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]}"
