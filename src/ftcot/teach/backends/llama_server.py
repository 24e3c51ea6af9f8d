"""llama.cpp's own server (`llama-server`): GGUF teachers on CPU with continuous batching.

For `--teacher llamacpp:FILE` ftcot starts `llama-server` on a free 127.0.0.1 port with
`slots` parallel sequences, waits until `/health` says the model is loaded, and talks to it
through the OpenAI backend (same cache, retries and resume as any server). The server runs
in its own session, so a Ctrl-C meant for ftcot lets the questions in flight finish instead of
killing them; ftcot stops it when the run ends (normally, on an error, on Ctrl-C or SIGTERM),
and on Linux the kernel stops it if ftcot itself is killed.

There is no llama-server wheel on PyPI, but the llama-cpp-python sdist carries llama.cpp's
sources: `ftcot setup llama-server` builds the binary from them once (about 7 minutes on
2 cores) into `$FTCOT_CACHE/llama.cpp/<version>/`. No binary is downloaded.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from ftcot.errors import ConfigError, SourceError
from ftcot.sources import cache_dir
from ftcot.teach.backends.openai_backend import OpenAIBackend

log = logging.getLogger(__name__)

# The llama-cpp-python release whose vendored llama.cpp we build (the version CI compiles too).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SERVER_ENV = "FTCOT_LLAMA_SERVER"  # a llama-server binary of the user's own, if any

# Measured on 2 cores (benchmarks/teach_llama_server.py): see benchmarks/results/teach_llama_server.md.
DEFAULT_SLOTS = 16  # 91 tok/s against 78 with 8 slots (benchmarks/results/teach_llama_server.md)
DEFAULT_CTX_PER_SLOT = 1024  # step 2's prompt (question + 256-token rationale + trigger) fits


def server_binary() -> Path | None:
    """The llama-server to run: $FTCOT_LLAMA_SERVER, else one on PATH, else the one `ftcot setup` built."""
    if os.environ.get(SERVER_ENV):
        path = Path(os.environ[SERVER_ENV]).expanduser()
        if not path.is_file():
            raise ConfigError(f"${SERVER_ENV} names {path}, which is not a file")
        return path
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    built = built_binary_path()
    return built if built.is_file() else None


def built_binary_path(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    return cache_dir() / "llama.cpp" / version / "bin" / "llama-server"


def build_llama_server(version: str = LLAMA_CPP_PYTHON_VERSION, *, native: bool = True) -> Path:
    """Build llama-server from the llama.cpp sources inside the llama-cpp-python sdist (PyPI only).

    `native` tunes for this machine's CPU (fastest here); a binary meant for other CPUs needs False.
    """
    out = built_binary_path(version)
    if out.is_file():
        return out
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise ConfigError(f"building llama-server needs {tool} (e.g. apt-get install cmake g++)")
    with tempfile.TemporaryDirectory(prefix="ftcot-llama-") as tmp:
        work = Path(tmp)
        sdist = download_sdist(version, work)
        with tarfile.open(sdist) as archive:
            archive.extractall(work, filter="data")
        source = work / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
        _keep_converter(source, version)  # `ftcot eval --engine llamacpp` exports students with it
        build = source / "build"
        log.info("building llama-server (about 7 minutes on 2 cores)")
        _run(["cmake", "-S", str(source), "-B", str(build), f"-DGGML_NATIVE={'ON' if native else 'OFF'}",
              "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DCMAKE_BUILD_TYPE=Release"])  # fmt: skip
        _run(["cmake", "--build", str(build), "--target", "llama-server", "-j", str(os.cpu_count() or 2)])
        staged = out.parent.with_name(out.parent.name + ".part")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        shutil.copy2(build / "bin" / "llama-server", staged / "llama-server")
        shutil.rmtree(out.parent, ignore_errors=True)
        os.replace(staged, out.parent)
    return out


def download_sdist(version: str, into: Path) -> Path:
    """The llama-cpp-python sdist (llama.cpp's sources), downloaded from PyPI by pip into `into`."""
    log.info("downloading the llama-cpp-python %s sdist (llama.cpp sources)", version)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
          f"llama-cpp-python=={version}", "-d", str(into)])  # fmt: skip
    [sdist] = into.glob("llama_cpp_python-*.tar.gz")
    return sdist


# --- llama.cpp's HF -> GGUF converter (ftcot.train.export) ------------------------------------------

SOURCE_ENV = "FTCOT_LLAMA_CPP_SOURCE"  # a llama.cpp source tree of the user's own (holds the converter)
CONVERTER = "convert_hf_to_gguf.py"
# What the converter reads beside itself: its model classes, its own gguf-py, chat templates; a few MB.
CONVERTER_PARTS = (CONVERTER, "conversion", "gguf-py", "models/templates", "LICENSE")


def converter_path(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    """Where the cached converter lives: `$FTCOT_CACHE/llama.cpp/<version>/converter/convert_hf_to_gguf.py`."""
    return cache_dir() / "llama.cpp" / version / "converter" / CONVERTER


def converter_script(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    """llama.cpp's `convert_hf_to_gguf.py`: from $FTCOT_LLAMA_CPP_SOURCE (a llama.cpp source tree),
    else the cached copy, else taken once from the llama-cpp-python sdist on PyPI (the sources
    `ftcot setup llama-server` builds from, which keeps the converter too)."""
    if os.environ.get(SOURCE_ENV):
        script = Path(os.environ[SOURCE_ENV]).expanduser() / CONVERTER
        if not script.is_file():
            raise ConfigError(f"${SOURCE_ENV} names {script.parent}, which holds no {CONVERTER}")
        return script
    script = converter_path(version)
    if script.is_file():
        return script
    missing = (
        f"llama.cpp's {CONVERTER} (HF -> GGUF) is not in {script.parent}"
        f" (`ftcot setup llama-server` keeps it there), and ${SOURCE_ENV} is not set"
    )
    with tempfile.TemporaryDirectory(prefix="ftcot-llama-") as tmp:
        try:
            sdist = download_sdist(version, Path(tmp))
        except SourceError as e:
            raise ConfigError(
                f"{missing}; taking it from the llama-cpp-python {version} sdist failed: {e}\n"
                f"set ${SOURCE_ENV} to a llama.cpp source tree (one holding {CONVERTER} and gguf-py/)"
            ) from None
        prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
        with tarfile.open(sdist) as archive:
            wanted = [
                m for m in archive.getmembers()
                if any(m.name == prefix + part or m.name.startswith(prefix + part + "/") for part in CONVERTER_PARTS)
            ]  # fmt: skip
            archive.extractall(tmp, members=wanted, filter="data")
        _keep_converter(Path(tmp) / prefix, version)
    return script


def _keep_converter(source: Path, version: str) -> None:
    """Copy the converter's files out of a llama.cpp source tree into the cache (whole, or not at all)."""
    out = converter_path(version).parent
    if (out / CONVERTER).is_file() or not (source / CONVERTER).is_file():
        return
    staged = out.with_name(f"{out.name}.{os.getpid()}.part")
    shutil.rmtree(staged, ignore_errors=True)
    for part in CONVERTER_PARTS:
        path = source / part
        if path.is_dir():
            shutil.copytree(path, staged / part)
        elif path.is_file():
            (staged / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, staged / part)
    try:
        os.replace(staged, out)
    except OSError:  # another process kept it first
        shutil.rmtree(staged, ignore_errors=True)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise SourceError(f"{' '.join(command[:4])} ... failed (exit {done.returncode}):\n{tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, SIGKILL it when ftcot's process dies (even by kill -9).
    Not SIGTERM: that starts a graceful shutdown which finishes the batch in flight, slow on busy
    cores (seen: longer than 15 s), for replies nobody is left to read."""
    os.setsid()  # its own session: the terminal's Ctrl-C reaches ftcot, which stops the server itself
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class LlamaServer:
    """One llama-server process serving one GGUF file on 127.0.0.1; a context manager."""

    def __init__(
        self,
        model: Path,
        *,
        slots: int = DEFAULT_SLOTS,
        ctx_per_slot: int = DEFAULT_CTX_PER_SLOT,
        threads: int | None = None,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
        startup_timeout: float = 300.0,
    ):
        self.binary = binary or server_binary()
        if self.binary is None:
            raise ConfigError(
                "llama-server not found: build it once with `ftcot setup llama-server` (from the "
                f"llama-cpp-python sdist on PyPI, about 7 minutes on 2 cores), put it on PATH, or set ${SERVER_ENV}"
            )
        self.model = model
        self.slots = slots
        self.port = free_port()
        self.command = [
            str(self.binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
            "--parallel", str(slots), "--ctx-size", str(slots * ctx_per_slot),
            "--threads", str(threads or os.cpu_count() or 2), "--no-webui",
            "--cache-ram", "1024",  # its host-side prompt cache grows to 8 GiB by default; ours rarely repeat
            *extra_args,
        ]  # fmt: skip
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaServer:
        fd, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self.log_path = Path(name)
        try:  # the server's own log: shown when it fails to start
            self.process = subprocess.Popen(
                self.command, stdout=fd, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        finally:
            os.close(fd)
        atexit.register(self.stop)
        self._wait_healthy()
        log.info("llama-server on %s (%d slots) serving %s", self.url, self.slots, self.model.name)
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise SourceError(
                    f"llama-server exited with {self.process.returncode} while loading {self.model}:\n"
                    + self.log_tail()
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet, or 503 while the model loads
            if time.monotonic() > deadline:
                self.stop()
                raise SourceError(f"llama-server did not become healthy in {self.startup_timeout:.0f}s")
            time.sleep(0.2)

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        atexit.unregister(self.stop)
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LlamaServerBackend(OpenAIBackend):
    """`llamacpp:FILE`: a llama-server that ftcot starts, uses through the OpenAI API, and stops.

    One request per sample (not n per request): each sample takes its own slot, and the server
    batches all slots' tokens together (continuous batching)."""

    name = "llamacpp"
    supports_n = False
    request_timeout = 3600.0  # a request never waits for a slot (max_in_flight) but may run slowly

    def __init__(self, model: str, *, chat: bool = True, timeout: float = 3600.0, slots: int = DEFAULT_SLOTS):
        from ftcot.models import gguf_file

        self.server = LlamaServer(gguf_file(model), slots=slots).start()
        try:
            super().__init__(model, base_url=self.server.url, chat=chat, timeout=timeout)
        except BaseException:
            self.server.stop()
            raise
        self.supports_n = False
        self.max_in_flight = slots

    def describe(self) -> dict:
        # The port changes every run and means nothing to a reader: record the engine and its slots.
        return {"backend": self.name, "model": self.model, "chat": self.chat,
                "engine": "llama-server", "slots": self.server.slots}  # fmt: skip

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await asyncio.to_thread(self.server.stop)
