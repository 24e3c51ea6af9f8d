"""Any OpenAI-compatible server through the official `openai` SDK: OpenAI, vLLM, llama.cpp, Ollama, ...

The SDK's own retries are off (`max_retries=0`): the engine's throttle retries, so that it
can count retries, honour `Retry-After` across all requests and stop on errors that cannot
succeed. The key is read from an environment variable and never stored on this object's
public surface, logged or written anywhere.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlparse

import openai

from ftcot.errors import ConfigError
from ftcot.redact import redact, redact_url, use_key_env
from ftcot.teach.backends.base import Backend, Generation, RequestRefused, RetryableError, SamplingParams

MAX_N = 128  # OpenAI's limit on n per request
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1")


def read_api_key(env_name: str, base_url: str | None) -> str:
    """The key from the environment; local servers work without one."""
    use_key_env(env_name)  # from now on every writer masks this variable's value
    key = os.environ.get(env_name, "")
    if key:
        return key
    host = urlparse(base_url).hostname if base_url else None
    if base_url and host in _LOCAL_HOSTS:
        return "no-key"  # local servers ignore the key, the SDK insists on one
    raise ConfigError(
        f"no API key: set the environment variable {env_name} (or name another one with --api-key-env)"
        + ("" if base_url else ", or point --base-url at a local OpenAI-compatible server")
    )


class OpenAIBackend(Backend):
    name = "openai"
    remote = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        chat: bool = True,
        timeout: float = 60.0,
    ):
        super().__init__(model)
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.chat = chat
        self.supports_n = True  # until a server answers n>1 with fewer choices
        self.max_n = MAX_N
        self._key = read_api_key(api_key_env, base_url)
        self.client = openai.AsyncOpenAI(api_key=self._key, base_url=base_url, max_retries=0, timeout=timeout)

    def describe(self) -> dict:
        return {
            **super().describe(),
            "base_url": redact_url(self.base_url),
            "api_key_env": self.api_key_env,
            "endpoint": "chat" if self.chat else "completions",
        }

    async def aclose(self) -> None:
        await self.client.close()

    async def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        return [await self._one(prompt, params) for prompt in prompts]

    async def _one(self, prompt: str, params: SamplingParams) -> list[Generation]:
        n = min(params.n, MAX_N)
        body = request_body(self.model, prompt, params.with_n(n), self.chat)
        path = "/chat/completions" if self.chat else "/completions"
        try:
            # The SDK's documented raw-request path: same auth, errors and timeouts as
            # `chat.completions.create`, without re-validating a body we built ourselves and
            # without building response models: a third less client CPU a request.
            raw = await self.client.post(path, cast_to=bytes, body=body)
            generations = parse_reply(json.loads(raw))
        except openai.APIStatusError as e:
            raise self._status_error(e) from None
        except (openai.APITimeoutError, openai.APIConnectionError) as e:
            kind = "timeout" if isinstance(e, openai.APITimeoutError) else "connection"
            raise RetryableError(f"{type(e).__name__}: {redact(str(e), (self._key,))}", kind=kind) from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise RetryableError(
                f"unreadable reply from the server ({type(e).__name__})", kind="malformed"
            ) from None
        if not generations:
            raise RetryableError("the server returned no choices", kind="malformed")
        if len(generations) < n:
            self.supports_n = False  # the engine asks again for the missing samples, one at a time
        return generations

    def _status_error(self, e: openai.APIStatusError) -> Exception:
        status = e.status_code
        where = redact_url(self.base_url) or "api.openai.com"
        detail = redact(_error_message(e), (self._key,))
        if is_transient(e) and status == 429:
            return RetryableError(
                f"429 rate limited: {detail}", kind="429", retry_after=_retry_after(e), rate_limited=True
            )
        if is_transient(e):
            return RetryableError(
                f"{status} from {where}: {detail}", kind=str(status), retry_after=_retry_after(e)
            )
        hint = {
            401: f"the key in ${self.api_key_env} was refused; set a valid key or name another variable with --api-key-env",
            403: "this key may not use this model or endpoint",
            404: f"model {self.model!r} or the endpoint is unknown at {where}; check --teacher and --base-url"
            + (" (or try --completions/--chat)"),
            429: "the account is out of quota; add credit or use another key",
        }.get(status, "the request was refused as sent; check --teacher, --max-tokens and the sampling flags")
        return RequestRefused(f"{status} from {where}: {detail}. {hint}")


def request_body(model: str, prompt: str, params: SamplingParams, chat: bool) -> dict:
    """The JSON body of a chat or legacy completions request (live and Batch API alike)."""
    body: dict = {"model": model, "temperature": params.temperature, "top_p": params.top_p}
    body["max_tokens"] = params.max_tokens
    if params.n > 1:
        body["n"] = params.n
    if params.stop:
        body["stop"] = list(params.stop)
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def parse_reply(reply: dict) -> list[Generation]:
    """Generations of a chat or completions reply, in choice order; raises KeyError/TypeError if malformed."""
    choices = sorted(reply["choices"], key=lambda c: c.get("index") or 0)
    texts = [((c["message"].get("content") if "message" in c else c.get("text")) or "") for c in choices]
    usage = reply.get("usage") or {}
    prompt_tokens = int(usage.get("prompt_tokens") or 0)
    shares = split_tokens(int(usage.get("completion_tokens") or 0), [len(t) for t in texts])
    return [
        # The prompt is paid once per request: it is charged to the first sample.
        Generation(text, c.get("finish_reason"), prompt_tokens if i == 0 else 0, share)
        for i, (c, text, share) in enumerate(zip(choices, texts, shares, strict=True))
    ]


def split_tokens(total: int, weights: list[int]) -> list[int]:
    """Split a request's completion tokens over its samples in proportion to their text length."""
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum == 0:
        shares = [total // len(weights)] * len(weights)
    else:
        shares = [total * w // weight_sum for w in weights]
    shares[-1] += total - sum(shares)
    return shares


def is_transient(e: openai.APIStatusError) -> bool:
    """Worth another try: a rate limit (but not an exhausted quota), a timeout or conflict, a 5xx."""
    if e.status_code == 429:
        return _error_code(e) != "insufficient_quota"
    return e.status_code in (408, 409) or e.status_code >= 500


def _retry_after(e: openai.APIStatusError) -> float | None:
    headers = e.response.headers if e.response is not None else {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
    return None


def _error_message(e: openai.APIStatusError) -> str:
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
    return (e.message or "")[:300]


def _error_code(e: openai.APIStatusError) -> str | None:
    body = e.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return inner.get("code")
    return getattr(e, "code", None)
