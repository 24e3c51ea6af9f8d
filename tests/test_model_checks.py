"""Model specs: an unknown name says what was looked for; cached GGUF files and conversions are checked on reuse."""

import hashlib
import json
import os

import pytest

from ftcot import models
from ftcot.errors import ConfigError
from ftcot.models import BUNDLED, CONVERTED_MARKER, BundledModel, gguf_file, load_model, local_checkpoint


def test_an_unknown_model_name_says_what_was_looked_for(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        load_model("smolm2-135m")  # a typo: no folder, no .gguf, not in the Hugging Face cache
    message = str(error.value)
    for looked_for in (
        "smollm2-135m, qwen2.5-coder-1.5b",
        "folder",
        ".gguf",
        "Hugging Face cache",
        "HF_HUB_OFFLINE",
    ):
        assert looked_for in message
    assert "Did you mean 'smollm2-135m'" in message


@pytest.fixture
def chunked_model(tmp_path, monkeypatch):
    """A bundled model in three parts, each from an importable package as the real ones are."""
    parts = [os.urandom(1000) for _ in range(3)]
    for i, part in enumerate(parts, 1):
        package = tmp_path / "site" / f"fakemodel_part{i}"
        package.mkdir(parents=True)
        (package / "chunk.bin").write_bytes(part)
        (package / "__init__.py").write_text(
            f"def get_part_path():\n    return {str(package / 'chunk.bin')!r}\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(parts)
    model = BundledModel(
        "fake-3part", "fakemodel_part{}", "Fake.gguf", hashlib.sha256(whole).hexdigest(), parts=3
    )
    monkeypatch.setitem(BUNDLED, model.name, model)
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "cache"))
    return model.name, whole


def test_the_assembled_gguf_is_checked_on_reuse_and_hashed_once(chunked_model, monkeypatch):
    name, whole = chunked_model
    hashed = []
    real_sha256_of = models.sha256_of
    monkeypatch.setattr(models, "sha256_of", lambda path: hashed.append(path) or real_sha256_of(path))
    path = gguf_file(name)
    assert path.read_bytes() == whole
    hashed.clear()
    assert gguf_file(name) == path and hashed == []  # size and mtime unchanged: not hashed again

    before = path.stat()
    path.write_bytes(bytes(b ^ 0xFF for b in whole))  # damaged in place, same size
    os.utime(path, ns=(before.st_mtime_ns + 10**9, before.st_mtime_ns + 10**9))
    assert gguf_file(name).read_bytes() == whole  # noticed, and assembled again
    assert list(path.parent.glob("*.part")) == []


@pytest.mark.slow
def test_a_conversion_is_reused_only_when_its_marker_says_it_is_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "cache"))
    stale = tmp_path / "cache" / "models" / "smollm2-135m-hf"
    stale.mkdir(parents=True)
    (stale / "config.json").write_text("{}")  # what an interrupted or older conversion left behind
    out = local_checkpoint("smollm2")
    marker = json.loads((stale / CONVERTED_MARKER).read_text())
    assert out == str(stale) and (stale / "model.safetensors").is_file()
    assert marker["source_sha256"] == BUNDLED["smollm2-135m"].sha256
    assert marker["files"]["model.safetensors"] == (stale / "model.safetensors").stat().st_size

    written = (stale / CONVERTED_MARKER).stat().st_mtime_ns
    assert local_checkpoint("smollm2") == out
    assert (stale / CONVERTED_MARKER).stat().st_mtime_ns == written  # reused, not converted again

    assert models._conversion_problem(stale, "0" * 64) == "converted from another GGUF file"
    with open(stale / "tokenizer.json", "ab") as f:
        f.write(b" ")
    assert "tokenizer.json" in models._conversion_problem(stale, marker["source_sha256"])
