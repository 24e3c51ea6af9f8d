"""The bf16/fp32 probe: measured once per (CPU, torch, threads), cached, overridden by --bf16/--fp32."""

import json

import pytest

from ftcot.train import precision


@pytest.fixture
def measured(monkeypatch):
    """Counts measurements and returns the figures set in `figures` (GFLOP/s: fp32, bf16)."""
    calls = {"n": 0, "figures": (100.0, 250.0)}

    def fake_measure():
        calls["n"] += 1
        return calls["figures"]

    monkeypatch.setattr(precision, "measure_matmuls", fake_measure)
    return calls


def test_the_cached_verdict_is_reused(tmp_path, measured):
    first = precision.cpu_probe(cache=tmp_path)
    cache_file = tmp_path / precision.CACHE_FILE
    written = cache_file.stat().st_mtime_ns
    second = precision.cpu_probe(cache=tmp_path)
    assert measured["n"] == 1 and cache_file.stat().st_mtime_ns == written
    assert first.bf16 and first.speedup == 2.5 and not first.cached
    assert second.cached and second.model_dump(exclude={"cached"}) == first.model_dump(exclude={"cached"})
    assert first.cpu == precision.cpu_model() and first.shape == [1024, 576, 1536]


def test_another_cpu_is_measured_again(tmp_path, measured, monkeypatch):
    precision.cpu_probe(cache=tmp_path)
    monkeypatch.setattr(precision, "cpu_model", lambda: "Some Other CPU")
    measured["figures"] = (200.0, 220.0)  # 1.1x: not worth bf16
    other = precision.cpu_probe(cache=tmp_path)
    assert measured["n"] == 2 and not other.bf16 and other.cpu == "Some Other CPU"
    assert len(json.loads((tmp_path / precision.CACHE_FILE).read_text())) == 2  # both verdicts kept


def test_a_damaged_cache_is_measured_again(tmp_path, measured):
    (tmp_path / precision.CACHE_FILE).write_text("{not json")
    assert precision.cpu_probe(cache=tmp_path).bf16 and measured["n"] == 1


def test_forced_flags_override_the_probe(tmp_path, measured, monkeypatch):
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path))
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert precision.choose_precision(False) == (False, "flag", None)  # --fp32, though bf16 measures faster
    measured["figures"] = (200.0, 100.0)
    assert precision.choose_precision(True) == (True, "flag", None)  # --bf16, though bf16 measures slower
    assert measured["n"] == 0  # a forced flag measures nothing
    bf16, chosen_by, probe = precision.choose_precision(None)
    assert (bf16, chosen_by, probe.bf16, measured["n"]) == (False, "cpu_probe", False, 1)


def test_the_real_measurement_gives_figures():
    fp32, bf16 = precision.measure_matmuls(shape=(64, 32, 48), repeats=1)
    assert fp32 > 0 and bf16 > 0


def test_the_train_manifest_records_the_probe(tiny_decoder, data_dir, tmp_path, measured, monkeypatch):
    from ftcot.train import TrainConfig, train

    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "cache"))
    measured["figures"] = (100.0, 110.0)
    config = TrainConfig(
        data_dir=data_dir, student=tiny_decoder, out=tmp_path / "out", epochs=1, max_length=64,
        batch_size=6, eval_every_epoch=False, check_format=False,
    )  # fmt: skip
    manifest = json.loads((train(config) / "manifest.json").read_text())
    assert manifest["precision"] == "fp32" and manifest["precision_chosen_by"] == "cpu_probe"
    probe = manifest["precision_probe"]
    assert probe["fp32_gflops"] == 100.0 and probe["bf16_gflops"] == 110.0 and probe["bf16"] is False
