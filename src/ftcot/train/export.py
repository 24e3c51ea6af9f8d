"""Export a trained student to GGUF, the format llama.cpp runs (`ftcot eval --engine llamacpp`).

    export_gguf("runs/train/X", "bf16")  ->  runs/train/X/student-bf16.gguf

The conversion is llama.cpp's own `convert_hf_to_gguf.py` (with the gguf-py beside it), run in a
subprocess on the student's safetensors, config and tokenizer; ftcot takes it once from the
llama-cpp-python sdist on PyPI, the sources llama-server is built from
(`ftcot.teach.backends.llama_server.converter_script`). The file is written beside a temporary
name and renamed into place, and reused while it is newer than every file it was made from.

- f32 keeps a float32 student's weights exactly: llama.cpp's greedy outputs then equal
  transformers' (tests/test_llamacpp_student.py) up to floating-point near-ties;
- bf16 (the default) halves the file and the memory traffic, and rounds each weight to bf16, which
  can change a greedy choice where the top two tokens were nearly tied; f16 likewise.

No model code is ever run: a folder whose config asks for remote code (`auto_map`) or that carries
Python files is refused, and nothing is downloaded (HF_HUB_OFFLINE=1 in the converter).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

from ftcot.errors import ConfigError, SourceError

log = logging.getLogger(__name__)

OutType = Literal["bf16", "f16", "f32"]
OUTTYPES: tuple[str, ...] = ("bf16", "f16", "f32")
# The files a conversion reads: a newer one (the student retrained into its folder) makes it stale.
SOURCE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model")

# Runs the converter as its own `__main__`. Its llama models import sentencepiece before they look
# for a tokenizer.model, and fall back to the tokenizer.json of a BPE model (SmolLM2, Qwen) when there
# is none: without the package, that method first checks for the file, so the fallback is reached.
_RUNNER = """\
import importlib.util, runpy, sys
from pathlib import Path
script = Path(sys.argv[1])
sys.argv = sys.argv[1:]
sys.path.insert(0, str(script.parent))
if importlib.util.find_spec("sentencepiece") is None:
    try:
        from conversion.base import TextModel
        original = TextModel._create_vocab_sentencepiece
    except (ImportError, AttributeError):  # another converter version: it runs as it is
        original = None
    if original is not None:
        def _create_vocab_sentencepiece(self):
            if not (self.dir_model / "tokenizer.model").is_file():
                raise FileNotFoundError(f"File not found: {self.dir_model / 'tokenizer.model'}")
            return original(self)
        TextModel._create_vocab_sentencepiece = _create_vocab_sentencepiece
runpy.run_path(str(script), run_name="__main__")
"""


def gguf_path(student_folder: str | Path, outtype: str = "bf16") -> Path:
    return Path(student_folder).expanduser() / f"student-{outtype}.gguf"


def export_gguf(
    student_folder: str | Path, outtype: OutType = "bf16", *, converter: Path | None = None
) -> Path:
    """The student's GGUF file `<folder>/student-<outtype>.gguf`, converted now unless an up-to-date one is there."""
    if outtype not in OUTTYPES:
        raise ConfigError(f"GGUF outtype {outtype!r}: choose one of {', '.join(OUTTYPES)}")
    folder = Path(student_folder).expanduser()
    sources = _check_folder(folder)
    out = gguf_path(folder, outtype)
    newest = max(p.stat().st_mtime_ns for p in sources)
    if out.is_file() and out.stat().st_mtime_ns > newest:
        return out
    from ftcot.teach.backends.llama_server import converter_script

    script = converter or converter_script()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    log.info("exporting %s to %s (llama.cpp's %s)", folder, out.name, script.name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("NO_LOCAL_GGUF", None)  # the converter uses the gguf-py it came with, not an installed one
    command = [
        sys.executable,
        "-c",
        _RUNNER,
        str(script),
        str(folder),
        "--outtype",
        outtype,
        "--outfile",
        str(tmp),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0 or not tmp.is_file():
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise SourceError(f"converting {folder} to GGUF failed (exit {done.returncode}):\n{tail}")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _check_folder(folder: Path) -> list[Path]:
    """The files a conversion of `folder` reads; a ConfigError naming what is missing or not allowed."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such student folder")
    weights = sorted(folder.glob("*.safetensors"))
    missing = [name for name, ok in (("config.json", (folder / "config.json").is_file()),
                                     ("*.safetensors", bool(weights))) if not ok]  # fmt: skip
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer.model").is_file():
        missing.append("tokenizer.json")
    if missing:
        raise ConfigError(
            f"{folder}: not a student folder that GGUF export can read (missing {', '.join(missing)}; "
            "`ftcot train` writes safetensors weights, config.json and the tokenizer)"
        )
    config = json.loads((folder / "config.json").read_text())
    if config.get("is_encoder_decoder"):
        raise ConfigError(
            f"{folder}: an encoder-decoder student (T5); --engine llamacpp runs decoder students"
        )
    for name in ("config.json", "tokenizer_config.json"):
        path = folder / name
        if path.is_file() and "auto_map" in json.loads(path.read_text()):
            raise ConfigError(
                f"{path} asks for the model's own code (auto_map); ftcot never runs remote code"
            )
    code = sorted(p.name for p in folder.glob("*.py"))
    if code:
        raise ConfigError(
            f"{folder} carries Python files ({', '.join(code)}); ftcot never runs a model's own code"
        )
    return weights + [folder / n for n in SOURCE_FILES if (folder / n).is_file()]


def gguf_facts(path: Path, outtype: str) -> dict:
    """What an evaluation states about the GGUF file it ran: path, type, size and sha256."""
    from ftcot.models import file_sha256

    return {"file": str(path), "outtype": outtype, "bytes": path.stat().st_size, "sha256": file_sha256(path)}
