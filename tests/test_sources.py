import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from ftcot.errors import SourceError
from ftcot.sources import FILES, PinnedFile, fetch, sha256_of


def test_every_pinned_file_in_the_mirror_matches_its_checksum(mirror):
    checked = 0
    for name, file in FILES.items():
        local = mirror / file.owner / file.repo / file.path
        if local.exists() and file.sha256:
            assert sha256_of(local) == file.sha256, name
            checked += 1
    assert checked == 39  # all but the three absent logs and AQuA train


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
