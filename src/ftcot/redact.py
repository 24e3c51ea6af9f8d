"""One redaction for everything ftcot writes: manifests, recipe copies, logs and reports.

A secret is any of:
- the value of an API-key environment variable in use: OPENAI_API_KEY, every variable named by
  an `api_key_env` setting, and any variable whose name says it holds a key (..._API_KEY,
  ..._TOKEN, ..._SECRET, ...);
- the user:password@ part of a URL, and secret query parameters (?key=, ?api_key=, token=, ...);
- anything key-shaped: `sk-...`, `hf_...`, `Bearer ...`.

`redact_value` walks dicts, lists and strings and returns a copy with each secret replaced
by `***`; writers call it on what they are about to write, so no code path has to remember.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from typing import Any

MASK = "***"

_key_env_vars: set[str] = {"OPENAI_API_KEY"}  # grows with every api_key_env ftcot reads a key from
_KEY_ENV_NAME = re.compile(r"(?i)(^|_)(API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)$")
_MIN_SECRET_LENGTH = 6  # shorter values ("1", "no") would blank out ordinary words

_KEY_SHAPED = [
    re.compile(r"sk-[A-Za-z0-9_\-*]{6,}"),  # OpenAI, Anthropic, most OpenAI-compatible servers
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face tokens
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-.~+/=]{8,}"),
]
_BASIC_AUTH = re.compile(r"\bBasic\s+([A-Za-z0-9+/]{8,}={0,2})")  # base64 of user:password
# user:password@ (or a bare token@) after a URL scheme; the character set is URL userinfo's,
# so base64 blobs and HTML around a URL never match.
_URL_USERINFO = re.compile(r"(?<=//)[\w.~%!$&*+,;=:-]+@")
_SECRET_QUERY = re.compile(
    r"(?i)\b((?:api[_-]?key|key|access[_-]?token|token|secret|password|sig|signature)=)[^&#\s\"'<>]+"
)


def use_key_env(name: str | None) -> None:
    """Also redact the value of this environment variable from now on (an `api_key_env` in use)."""
    if name:
        _key_env_vars.add(name)


def env_secrets() -> list[str]:
    """The values of the key environment variables, longest first (a key may contain another)."""
    names = {n for n in os.environ if _KEY_ENV_NAME.search(n)} | _key_env_vars
    values = {os.environ.get(n, "") for n in names}
    return sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Text without the given secrets, the environment's keys, URL passwords and key-shaped strings."""
    return _mask(text, (*secrets, *env_secrets()))


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    for pattern in _KEY_SHAPED:
        text = pattern.sub(MASK, text)
    text = _BASIC_AUTH.sub(_mask_basic_auth, text)
    text = _URL_USERINFO.sub(MASK + "@", text)
    return _SECRET_QUERY.sub(lambda m: m.group(1) + MASK, text)


def _mask_basic_auth(match: re.Match) -> str:
    """`Basic <base64 of user:password>` masked; 'Basic arithmetic' (which decodes to noise) kept."""
    try:
        decoded = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    if b":" in decoded and decoded.isascii() and decoded.decode().isprintable():
        return f"Basic {MASK}"
    return match.group(0)


def redact_url(url: str | None) -> str | None:
    """A base URL without user:password@ and without query parameters such as ?key=..."""
    if not url:
        return url
    url = re.sub(r"//[^/@]*@", "//", url)
    return url.split("?", 1)[0]


def redact_value(obj: Any) -> Any:
    """A copy of obj (dicts, lists, tuples and strings, nested) with every secret masked."""
    note_key_envs(obj)
    return _walk(obj, tuple(env_secrets()))


def note_key_envs(obj: Any) -> None:
    """Settings and manifests name the variable that holds a key (`api_key_env`): mask its value too."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "api_key_env" and isinstance(value, str):
                use_key_env(value)
            else:
                note_key_envs(value)
    elif isinstance(obj, list | tuple):
        for item in obj:
            note_key_envs(item)


def _walk(obj: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(obj, str):
        return _mask(obj, secrets)
    if isinstance(obj, dict):
        return {_walk(k, secrets): _walk(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_walk(item, secrets) for item in obj)
    return obj


class RedactingFilter(logging.Filter):
    """A log handler filter that masks secrets in the message and the traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
