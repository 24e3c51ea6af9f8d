import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from ftcot.errors import SourceError
from ftcot.sources import FILES, PinnedFile, fetch, sha256_of
from ftcot.tasks import loaders


def test_every_pinned_file_in_the_mirror_matches_its_checksum(mirror):
    checked = 0
    for name, file in FILES.items():
        local = mirror / file.owner / file.repo / file.path
        if local.exists() and file.sha256:
            assert sha256_of(local) == file.sha256, name
            checked += 1
    assert checked == len(FILES) - 3  # all but the two logs and AQuA train that the mirror lacks


def test_mirror_read_and_missing_file(mirror):
    path = fetch("kojima-takeshi188/zero_shot_cot/dataset/MultiArith/MultiArith.json")
    assert path.is_file() and path.is_relative_to(mirror)
    with pytest.raises(SourceError, match="FTCOT_MIRROR"):
        fetch("kojima-takeshi188/zero_shot_cot/log/svamp_zero_shot_cot.log")  # pinned, absent offline


def test_mirror_checksum_mismatch_names_file(tmp_path, monkeypatch):
    file = PinnedFile("o", "r", "c0ffee", "data/x.json", hashlib.sha256(b"right").hexdigest())
    (tmp_path / "o/r/data").mkdir(parents=True)
    (tmp_path / "o/r/data/x.json").write_bytes(b"wrong")
    monkeypatch.setenv("FTCOT_MIRROR", str(tmp_path))
    with pytest.raises(SourceError, match=r"x\.json.*sha256"):
        fetch(file)


class _Handler(http.server.BaseHTTPRequestHandler):
    payloads: dict[str, bytes] = {}
    hits: list[str] = []

    def do_GET(self):  # noqa: N802
        self.hits.append(self.path)
        body = self.payloads.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_base(monkeypatch, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.delenv("FTCOT_MIRROR", raising=False)
    monkeypatch.setenv("FTCOT_SOURCES_URL", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("FTCOT_CACHE", str(tmp_path / "cache"))
    _Handler.payloads, _Handler.hits = {}, []
    yield _Handler
    server.shutdown()


def test_download_once_then_cached(http_base, tmp_path):
    body = b'{"hello": 1}'
    file = PinnedFile("o", "r", "abc", "d/f.json", hashlib.sha256(body).hexdigest())
    http_base.payloads["/o/r/abc/d/f.json"] = body
    first = fetch(file)
    assert first.read_bytes() == body
    assert fetch(file) == first
    assert len(http_base.hits) == 1  # the second call reads the cache


def test_download_checksum_mismatch_leaves_no_partial_file(http_base, tmp_path):
    file = PinnedFile("o", "r", "abc", "d/bad.json", hashlib.sha256(b"expected").hexdigest())
    http_base.payloads["/o/r/abc/d/bad.json"] = b"tampered"
    with pytest.raises(SourceError, match="sha256"):
        fetch(file)
    leftovers = [p for p in Path(tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_offline_without_mirror_says_what_to_set(http_base, monkeypatch):
    monkeypatch.setenv("FTCOT_SOURCES_URL", "http://127.0.0.1:9")  # nothing listens on the discard port
    file = PinnedFile("o", "r", "abc", "d/f.json", "0" * 64)
    with pytest.raises(SourceError, match="FTCOT_MIRROR"):
        fetch(file, timeout=2)


def test_http_error_is_reported(http_base):
    file = PinnedFile("o", "r", "abc", "missing.json", "0" * 64)
    with pytest.raises(SourceError, match="HTTP 404"):
        fetch(file)


def test_every_file_is_pinned():
    assert [name for name, file in FILES.items() if not file.sha256] == []


def test_a_forged_aqua_train_file_is_refused(mirror, tmp_path, monkeypatch):
    forged = tmp_path / "deepmind" / "AQuA"
    forged.mkdir(parents=True)
    (forged / "test.json").symlink_to(mirror / "deepmind" / "AQuA" / "test.json")
    row = {"question": "1+1?", "options": ["A)2", "B)3"], "rationale": "", "correct": "B"}
    (forged / "train.json").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("FTCOT_MIRROR", str(tmp_path))
    with pytest.raises(SourceError, match=r"train\.json.*sha256"):
        fetch("deepmind/AQuA/train.json")
    with pytest.raises(SourceError, match="sha256"):  # not quietly dropped by the task either
        loaders.aqua("aqua", "choice:ABCDE")
    (forged / "train.json").unlink()  # absent (the offline mirror): the test split alone still loads
    assert len(loaders.aqua("aqua", "choice:ABCDE")) == 254


def test_an_unpinned_file_is_refused_unless_allowed(tmp_path, monkeypatch):
    file = PinnedFile("o", "r", "c0ffee", "data/x.json", None)
    (tmp_path / "o/r/data").mkdir(parents=True)
    (tmp_path / "o/r/data/x.json").write_bytes(b"anything")
    monkeypatch.setenv("FTCOT_MIRROR", str(tmp_path))
    monkeypatch.delenv("FTCOT_ALLOW_UNPINNED", raising=False)
    with pytest.raises(SourceError, match="no sha256 is pinned.*FTCOT_ALLOW_UNPINNED=1"):
        fetch(file)
    monkeypatch.setenv("FTCOT_ALLOW_UNPINNED", "1")
    assert fetch(file).read_bytes() == b"anything"
