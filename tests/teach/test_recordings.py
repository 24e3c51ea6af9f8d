"""`--teacher recorded:NAME`: a shipped live-teacher recording replays with zero requests."""

from __future__ import annotations

import time

import pytest

from ftcot.errors import ConfigError
from ftcot.records import read_manifest, read_records
from ftcot.teach import recordings
from ftcot.teach.driver import TeachConfig, teach


@pytest.fixture
def recording_root(tmp_path, monkeypatch):
    root = tmp_path / "recordings"
    monkeypatch.setattr(recordings, "recordings_root", lambda: root)
    return root


def live_run(server, tmp_path, out: str = "live", diverse: int = 4) -> TeachConfig:
    config = TeachConfig(teacher="openai:fake", base_url=server.url, task="multiarith", split="train",
                         diverse=diverse, limit=5, out=tmp_path / out, progress=False)  # fmt: skip
    teach(config)
    return config


def test_a_packed_recording_replays_every_d_as_a_prefix_with_no_request(
    fault_server, recording_root, tmp_path
):
    server = fault_server()
    live = live_run(server, tmp_path)
    recordings.pack(live.out, "fake-d4", licence="test outputs", command="ftcot teach ...")
    sent = server.stats.requests

    original = {r.key: r for r in read_records(live.out)}
    for diverse in (1, 2, 4):
        out = tmp_path / f"replay-d{diverse}"
        teach(TeachConfig(teacher="recorded:fake-d4", task="multiarith", split="train", diverse=diverse,
                          limit=5, out=out, progress=False))  # fmt: skip
        replayed = read_records(out)
        assert len(replayed) == 5 * diverse
        assert {r.key[2] for r in replayed} == set(range(diverse))  # indices 0..D-1: prefixes
        assert all(r.rationale == original[r.key].rationale for r in replayed)
        manifest = read_manifest(out)
        assert manifest["status"] == "complete" and manifest["diverse"] == diverse
        assert manifest["backend"]["recording"] == "fake-d4"
    assert server.stats.requests == sent  # replay asked nothing
    from ftcot.cli import _teacher_help

    # `ftcot teach --help` names it, and says the part is the split's first 5 questions
    assert "recorded:fake-d4 (multiarith/train 5×4 (first 5 of 420))" in _teacher_help()

    with pytest.raises(ConfigError, match="D=4"):
        teach(TeachConfig(teacher="recorded:fake-d4", task="multiarith", diverse=8, limit=5,
                          out=tmp_path / "too-many", progress=False))  # fmt: skip
    with pytest.raises(ConfigError, match="no multiarith/test"):
        teach(TeachConfig(teacher="recorded:fake-d4", task="multiarith", split="test", limit=5,
                          out=tmp_path / "other-split", progress=False))  # fmt: skip
    with pytest.raises(ConfigError, match="no recorded teacher 'nope'.*fake-d4"):
        teach(TeachConfig(teacher="recorded:nope", task="multiarith", out=tmp_path / "nope", progress=False))


def test_a_replay_states_the_sampling_that_made_its_records(fault_server, recording_root, tmp_path):
    """A run folder never lies: a replayed D=1 of T=0.7 samples says T=0.7 and the recording's token limit,
    whatever the defaults (0 for D=1, 128), and a setting asking for other sampling is refused up front."""
    server = fault_server()
    live = TeachConfig(teacher="openai:fake", base_url=server.url, task="multiarith", split="train", diverse=2,
                       max_tokens=200, limit=3, out=tmp_path / "live", progress=False)  # fmt: skip
    teach(live)
    recordings.pack(live.out, "long", licence="test outputs")

    out = teach(
        TeachConfig(teacher="recorded:long", task="multiarith", limit=3, out=tmp_path / "d1", progress=False)
    )
    job = read_manifest(out)["job"]
    assert (job["temperature"], job["max_tokens"], job["top_p"]) == (0.7, 200, 1.0)
    with pytest.raises(ConfigError, match="max_tokens=200, not 128"):
        TeachConfig(teacher="recorded:long", task="multiarith", max_tokens=128, out=tmp_path / "short")
    assert not (tmp_path / "short").exists()


def test_only_a_finished_teach_run_is_packed(fault_server, recording_root, tmp_path):
    server = fault_server()
    live = live_run(server, tmp_path)
    manifest_path = live.out / "manifest.json"
    manifest_path.write_text(
        manifest_path.read_text().replace('"status": "complete"', '"status": "incomplete"')
    )
    with pytest.raises(ConfigError, match="not complete"):
        recordings.pack(live.out, "partial", licence="x")
    assert not (recording_root / "partial").exists()


def test_packing_the_same_run_twice_gives_the_same_bytes(fault_server, recording_root, tmp_path):
    """Re-packing leaves a committed part byte for byte as it was (no timestamp in the gzip header)."""
    live = live_run(fault_server(), tmp_path)
    part = recordings.pack(live.out, "twice", licence="test outputs") / "multiarith-train.jsonl.gz"
    first = part.read_bytes()
    time.sleep(1.1)  # a gzip header's mtime counts whole seconds
    recordings.pack(live.out, "twice", licence="test outputs")
    assert part.read_bytes() == first


def test_every_shipped_recording_is_whole():
    """The recordings in the package: each part holds D samples of every question it names."""
    from ftcot.tasks import get_task

    for name, recording in recordings.available().items():
        for part in recording.parts:
            _, records = recordings.replay(name, part.task, part.split, part.diverse)
            assert len(records) == part.records == part.questions * part.diverse
            ids = get_task(part.task).split_ids(part.split)
            assert len(ids) == (part.split_questions or part.questions)  # a prefix says how long the split is
            assert {r.sample_id for r in records} == set(ids[: part.questions])  # the split's first questions
            assert len({r.key for r in records}) == len(records)


def test_a_greedy_test_split_rides_beside_sampled_train(fault_server, recording_root, tmp_path):
    """The teacher's greedy test answers (its own accuracy, paired with each student's answer in the
    report) pack into the same recording as its T=0.7 train samples, and replay with no request,
    also as a served evaluation's prompt baseline."""
    from ftcot.evaluate import EvalConfig, evaluate

    server = fault_server()
    live_run(server, tmp_path)  # train, D=4 at T=0.7
    recordings.pack(tmp_path / "live", "fake", licence="test outputs")
    greedy = TeachConfig(teacher="openai:fake", base_url=server.url, task="multiarith", split="test",
                         limit=3, out=tmp_path / "greedy", progress=False)  # fmt: skip
    teach(greedy)
    recording = recordings.load("fake")
    recordings.pack(greedy.out, "fake", licence="test outputs")
    recording = recordings.load("fake")
    assert recording.temperature == 0.7
    assert recording.temperature_of(recording.part("multiarith", "test")) == 0.0
    assert recording.part("multiarith", "train").temperature is None
    sent = server.stats.requests

    out = evaluate(EvalConfig(model="recorded:fake", task="multiarith", split="test", method="zs_cot",
                              limit=3, out=tmp_path / "teacher-on-test"))  # fmt: skip
    assert {r.rationale for r in read_records(out)} == {r.rationale for r in read_records(greedy.out)}
    assert read_manifest(out)["status"] == "done" and server.stats.requests == sent
    with pytest.raises(ConfigError, match="sampled with temperature=0.0, not 0.7"):
        teach(TeachConfig(teacher="recorded:fake", task="multiarith", split="test", limit=3, temperature=0.7,
                          out=tmp_path / "hot", progress=False))  # fmt: skip
