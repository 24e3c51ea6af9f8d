"""An OpenAI-compatible server that misbehaves on demand, for tests and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length bodies) on 127.0.0.1 to serve
`/v1/chat/completions`, `/v1/completions`, `/v1/models`, the minimal `/v1/files` and
`/v1/batches` endpoints of the Batch API, and fine-tuning (`/v1/fine_tuning/jobs`: create,
retrieve, list, events, cancel). A fine-tuning job validates, runs for
`ft_polls_before_done` status checks, then succeeds (or fails with `ft_error`); `ft_poll_faults`
answers the first status checks with 429s and 5xxs. The fine-tuned model then answers in the
format it was trained on: `rationale --> answer` (or the bare answer for vanilla), ` END` after
it for a completions model. A `FaultPlan` sets a fixed latency and the
probability of each fault: 429 with `Retry-After`, 500, 503, a hang (no reply), a dropped
connection, a malformed body, and replies that end with `finish_reason` length or
content_filter. The same request body fails at most `max_faults_per_request` times, so
every request succeeds eventually and tests are deterministic in outcome. `GET /_stats`
returns the request counts; `record_requests` keeps each completion request's JSON body in
`server.received`, for tests of what was sent. Chat replies start bare, as real chat servers'
do; completions start with a space (`chat_leading_space` gives chat replies one too).

    with FaultServer(FaultPlan(latency=0.2, p_429=0.1)) as server:
        ...  # point a client at server.url; read server.stats

    python -m ftcot.testing.fault_server --port 8000 --latency 0.2   # stand-alone
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qs

FAULTS = ("429", "500", "503", "hang", "drop", "malformed")
_NUMBER = re.compile(r"\d+")


@dataclass
class FaultPlan:
    latency: float = 0.0  # seconds before every reply
    p_429: float = 0.0
    retry_after: float = 0.2  # seconds, sent in the Retry-After header of 429s
    p_500: float = 0.0
    p_503: float = 0.0
    p_hang: float = 0.0  # never reply; the client has to time out
    hang_seconds: float = 30.0
    p_drop: float = 0.0  # close the connection without a reply
    p_malformed: float = 0.0  # 200 with a body that is not JSON
    p_length: float = 0.0  # a choice ends with finish_reason 'length'
    p_content_filter: float = 0.0  # a choice ends with finish_reason 'content_filter'
    status: int | None = None  # answer every completion request with this error status (401, 400, ...)
    echo_auth: bool = False  # error messages quote the request's Authorization header, as careless servers do
    max_faults_per_request: int = 2
    supports_n: bool = True  # False: ignore n and return one choice, as some servers do
    # Chat replies start bare, as real chat servers' do ("The numbers...", not " The numbers...");
    # True gives them the leading space a completion has (the old behaviour, which hid a bug).
    chat_leading_space: bool = False
    batch_polls_before_done: int = 1  # a batch reports in_progress this many times
    ft_polls_before_done: int = 2  # a fine-tuning job reports running this many status checks, then ends
    ft_error: str = ""  # not empty: fine-tuning jobs fail with this message instead of succeeding
    ft_poll_faults: str = ""  # e.g. "503,429,500": the first job status checks get these errors, in order
    record_requests: bool = False  # keep each completion request's body in FaultServer.received
    seed: int = 0

    def roll_fault(self, rng: random.Random) -> str | None:
        roll = rng.random()
        for name in FAULTS:
            p = getattr(self, f"p_{name}")
            if roll < p:
                return name
            roll -= p
        return None


@dataclass
class ServerStats:
    requests: int = 0  # completion requests received (faulty ones included)
    completions: int = 0  # completion requests answered successfully
    choices: int = 0
    faults: Counter = field(default_factory=Counter)
    paths: Counter = field(default_factory=Counter)
    max_in_flight: int = 0
    auth_headers: set = field(default_factory=set)  # Authorization values seen (tests check secrets)
    fine_tuning_jobs: int = 0  # fine-tuning jobs created
    job_polls: int = 0  # job status checks answered (faulty ones included)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["faults"] = dict(self.faults)
        data["paths"] = dict(self.paths)
        data["auth_headers"] = len(self.auth_headers)
        return data


class FaultServer:
    def __init__(self, plan: FaultPlan | None = None, host: str = "127.0.0.1", port: int = 0):
        self.plan = plan or FaultPlan()
        self.host, self.port = host, port
        self.stats = ServerStats()
        self.rng = random.Random(self.plan.seed)
        self.fault_counts: Counter = Counter()
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}  # fine-tuning jobs by id, oldest first
        self.fine_tuned: dict[str, dict] = {}  # fine-tuned model id -> {"method", "chat"}
        self.received: list[dict] = []  # completion request bodies, with plan.record_requests
        self._poll_faults = [f.strip() for f in self.plan.ft_poll_faults.split(",") if f.strip()]
        self._in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def reset_stats(self) -> None:
        self.stats = ServerStats()

    # --- lifecycle: a background thread with its own event loop -----------------------------

    def start(self) -> FaultServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve_in_thread, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def _serve_in_thread(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._open())
        ready.set()
        self._loop.run_forever()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return

        async def close() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- HTTP ---------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if not await self._dispatch(*request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, method: str, path: str, headers: dict, body: bytes, writer) -> bool:
        """Answer one request; False closes the connection."""
        self.stats.paths[path.split("?")[0]] += 1
        if "authorization" in headers:
            self.stats.auth_headers.add(headers["authorization"])
        if path.endswith(("/chat/completions", "/completions")) and method == "POST":
            return await self._completion(path, headers, body, writer)
        if path == "/_stats":
            return _send_json(writer, 200, self.stats.as_dict())
        if path == "/v1/models":
            return _send_json(writer, 200, {"object": "list", "data": [{"id": "fault", "object": "model"}]})
        if path.startswith(("/v1/files", "/v1/batches")):
            return self._batch_api(method, path, headers, body, writer)
        if path.startswith("/v1/fine_tuning/jobs"):
            return self._fine_tuning(method, path, body, writer)
        return _send_json(writer, 404, _error(f"no route {method} {path}", "not_found"))

    async def _completion(self, path: str, headers: dict, body: bytes, writer) -> bool:
        self.stats.requests += 1
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            if self.plan.latency:
                await asyncio.sleep(self.plan.latency)
            if self.plan.status is not None:
                self.stats.faults[str(self.plan.status)] += 1
                message = self._echo("refused by the fault plan", headers)
                return _send_json(writer, self.plan.status, _error(message, "invalid_request"))
            fault = self._choose_fault(body)
            if fault is not None:
                self.stats.faults[fault] += 1
                return await self._fault(fault, writer, headers)
            try:
                request = json.loads(body)
            except json.JSONDecodeError:
                return _send_json(writer, 400, _error("body is not JSON", "invalid_json"))
            if self.plan.record_requests:
                self.received.append(request)
            reply = self.reply(request, chat=path.endswith("/chat/completions"))
            self.stats.completions += 1
            self.stats.choices += len(reply["choices"])
            return _send_json(writer, 200, reply)
        finally:
            self._in_flight -= 1

    def _echo(self, message: str, headers: dict) -> str:
        if not self.plan.echo_auth:
            return message
        return f"{message} (request sent authorization: {headers.get('authorization', 'none')})"

    def _choose_fault(self, body: bytes) -> str | None:
        key = hashlib.sha256(body).hexdigest()
        if self.fault_counts[key] >= self.plan.max_faults_per_request:
            return None
        fault = self.plan.roll_fault(self.rng)
        if fault is not None:
            self.fault_counts[key] += 1
        return fault

    async def _fault(self, fault: str, writer, request_headers: dict) -> bool:
        if fault == "429":
            headers = {"retry-after": f"{self.plan.retry_after:g}"}
            message = self._echo("rate limit reached", request_headers)
            return _send_json(writer, 429, _error(message, "rate_limit_exceeded"), headers)
        if fault in ("500", "503"):
            message = self._echo("the server had an error", request_headers)
            return _send_json(writer, int(fault), _error(message, "server_error"))
        if fault == "hang":
            await asyncio.sleep(self.plan.hang_seconds)
            return False
        if fault == "drop":
            writer.transport.abort()
            return False
        _send(writer, 200, b'{"id": "cmpl-broken", "choices": [{"text": ', "application/json")
        return True

    # --- replies ------------------------------------------------------------------------------

    def reply(self, request: dict, chat: bool) -> dict:
        """A well-formed completion: a short 'rationale' for step-1 prompts, a number for step-2 prompts."""
        prompt = request["messages"][-1]["content"] if chat else request["prompt"]
        n = int(request.get("n") or 1) if self.plan.supports_n else 1
        student = self.fine_tuned.get(request.get("model", ""))
        choices, completion_tokens = [], 0
        for i in range(n):
            if student is not None:
                text = _until_stop(self._student_text(prompt, student), request.get("stop"))
            else:
                text = self._text(prompt, float(request.get("temperature") or 0))
                if chat and not self.plan.chat_leading_space:
                    text = text.lstrip()
            finish = self._finish_reason()
            text = "" if finish == "content_filter" else text
            completion_tokens += len(text) // 4 + 1
            if chat:
                choices.append(
                    {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                )
            else:
                choices.append({"index": i, "text": text, "finish_reason": finish, "logprobs": None})
        return {
            "id": f"cmpl-{self.stats.completions}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()),
            "model": request.get("model", "fault"),
            "choices": choices,
            "usage": {
                "prompt_tokens": len(prompt) // 4 + 1,
                "completion_tokens": completion_tokens,
                "total_tokens": len(prompt) // 4 + 1 + completion_tokens,
            },
        }

    def _text(self, prompt: str, temperature: float) -> str:
        """Adds the first numbers of the last question. Answers in the shape the prompt asks for:
        a number after a Zero-shot-CoT trigger or a bare 'A:', '... The answer is N.' after exemplars."""
        question = prompt.rsplit("Q:", 1)[-1].split("\nA:")[0]  # few-shot prompts: the last Q
        numbers = [int(x) for x in _NUMBER.findall(question)][:4]
        guess = sum(numbers) if numbers else 0
        if temperature > 0:
            guess += self.rng.choice((0, 0, 1, -1))  # sampled rationales disagree now and then
        if "Therefore" in prompt.rsplit("Let's think step by step.", 1)[-1]:
            return f" {guess}."
        rationale = f" The numbers are {', '.join(map(str, numbers)) or 'none'}. Adding them gives {guess}."
        if "The answer is" in prompt:
            return f"{rationale} The answer is {guess}."
        if prompt.endswith("A:"):
            return f" {guess}"
        return rationale

    def _student_text(self, prompt: str, student: dict) -> str:
        """A fine-tuned student's reply in its training format: `{rationale} --> {answer}` (vanilla: the
        answer), with a leading space and ` END` when it was trained on completions."""
        numbers = [int(x) for x in _NUMBER.findall(prompt.removesuffix(" ###"))][:4]
        guess = sum(numbers)
        text = f"{guess}"
        if student["method"] == "ft_cot":
            text = f"The numbers are {', '.join(map(str, numbers)) or 'none'}. Adding them gives {guess}. --> {guess}"
        return text if student["chat"] else f" {text} END"

    def _finish_reason(self) -> str:
        roll = self.rng.random()
        if roll < self.plan.p_length:
            return "length"
        if roll < self.plan.p_length + self.plan.p_content_filter:
            return "content_filter"
        return "stop"

    # --- Batch API (minimal) ------------------------------------------------------------------

    def _batch_api(self, method: str, path: str, headers: dict, body: bytes, writer) -> bool:
        if method == "POST" and path == "/v1/files":
            content = _multipart_file(headers.get("content-type", ""), body)
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = content
            return _send_json(writer, 200, _file_object(file_id, len(content)))
        if method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            file_id = path.split("/")[3]
            if file_id not in self.files:
                return _send_json(writer, 404, _error(f"no file {file_id}", "not_found"))
            _send(writer, 200, self.files[file_id], "application/octet-stream")
            return True
        if method == "POST" and path == "/v1/batches":
            return _send_json(writer, 200, self._create_batch(json.loads(body)))
        if method == "GET" and path.startswith("/v1/batches/"):
            batch = self.batches.get(path.split("/")[3])
            if batch is None:
                return _send_json(writer, 404, _error("no such batch", "not_found"))
            batch["_polls"] += 1
            if batch["_polls"] > self.plan.batch_polls_before_done:
                batch["status"] = "completed"
            return _send_json(writer, 200, {k: v for k, v in batch.items() if not k.startswith("_")})
        return _send_json(writer, 404, _error(f"no route {method} {path}", "not_found"))

    def _create_batch(self, request: dict) -> dict:
        lines = self.files[request["input_file_id"]].decode().splitlines()
        output = []
        for line in filter(None, lines):
            item = json.loads(line)
            reply = self.reply(item["body"], chat=item["url"].endswith("/chat/completions"))
            self.stats.choices += len(reply["choices"])
            response = {"status_code": 200, "request_id": f"req-{len(output)}", "body": reply}
            output.append(
                json.dumps({"id": f"r-{len(output)}", "custom_id": item["custom_id"], "response": response})
            )
        output_id = f"file-{len(self.files) + 1}"
        self.files[output_id] = ("\n".join(output) + "\n").encode()
        batch_id = f"batch-{len(self.batches) + 1}"
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"],
            "completion_window": request.get("completion_window", "24h"),
            "status": "in_progress",
            "output_file_id": output_id,
            "error_file_id": None,
            "created_at": int(time.time()),
            "request_counts": {"total": len(output), "completed": len(output), "failed": 0},
            "_polls": 0,
        }
        return {k: v for k, v in self.batches[batch_id].items() if not k.startswith("_")}

    # --- fine-tuning ------------------------------------------------------------------------------

    def _fine_tuning(self, method: str, path: str, body: bytes, writer) -> bool:
        route, _, query = path.partition("?")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        parts = route.removeprefix("/v1/fine_tuning/jobs").strip("/").split("/")
        if method == "POST" and parts == [""]:
            return self._create_job(json.loads(body or b"{}"), writer)
        if method == "GET" and parts == [""]:
            jobs = [j for j in reversed(self.jobs.values()) if _metadata_matches(j, params)]
            return _send_json(writer, 200, _page([_public(j) for j in jobs], params))
        job = self.jobs.get(parts[0])
        if job is None:
            return _send_json(writer, 404, _error(f"no fine-tuning job {parts[0]}", "not_found"))
        if method == "GET" and len(parts) == 1:
            return self._poll_job(job, writer)
        if method == "GET" and parts[1:] == ["events"]:
            return _send_json(writer, 200, _page(list(reversed(job["_events"])), params))
        if method == "POST" and parts[1:] == ["cancel"]:
            if job["status"] not in ("succeeded", "failed", "cancelled"):
                job["status"] = "cancelled"
                self._job_event(job, "Fine-tuning job cancelled")
            return _send_json(writer, 200, _public(job))
        return _send_json(writer, 404, _error(f"no route {method} {path}", "not_found"))

    def _create_job(self, request: dict, writer) -> bool:
        training = self.files.get(request.get("training_file", ""))
        if training is None:
            return _send_json(writer, 400, _error("training_file: no such file", "invalid_request"))
        lines = [json.loads(line) for line in training.decode().splitlines() if line.strip()]
        chat = bool(lines) and "messages" in lines[0]
        answers = [(x["messages"][-1]["content"] if chat else x["completion"]) for x in lines]
        hyper = dict(request.get("hyperparameters") or {})
        hyper.update(((request.get("method") or {}).get("supervised") or {}).get("hyperparameters") or {})
        epochs = hyper.get("n_epochs", "auto")
        self.stats.fine_tuning_jobs += 1
        job_id = f"ftjob-{len(self.jobs) + 1}"
        self.jobs[job_id] = job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "error": None,
            "fine_tuned_model": None,
            "finished_at": None,
            "hyperparameters": {
                "n_epochs": epochs,
                "batch_size": hyper.get("batch_size", "auto"),
                "learning_rate_multiplier": hyper.get("learning_rate_multiplier", "auto"),
            },
            "model": request["model"],
            "organization_id": "org-fault",
            "result_files": [],
            "seed": int(request.get("seed") or 42),
            "status": "validating_files",
            "trained_tokens": None,
            "training_file": request["training_file"],
            "validation_file": request.get("validation_file"),
            "metadata": request.get("metadata"),
            "user_provided_suffix": request.get("suffix"),
            "method": {"type": "supervised"},
            "_polls": 0,
            "_events": [],
            "_student": {"method": "ft_cot" if any("-->" in a for a in answers) else "vanilla", "chat": chat},
            "_tokens": (len(training) // 4) * (epochs if isinstance(epochs, int) else 3),
        }
        self._job_event(job, f"Created fine-tuning job: {job_id}")
        self._job_event(job, f"Validating training file: {request['training_file']}")
        return _send_json(writer, 200, _public(job))

    def _poll_job(self, job: dict, writer) -> bool:
        """A status check: the next injected fault, else the job one step further along."""
        self.stats.job_polls += 1
        if self._poll_faults:
            fault = self._poll_faults.pop(0)
            self.stats.faults[fault] += 1
            headers = {"retry-after": f"{self.plan.retry_after:g}"} if fault == "429" else None
            return _send_json(writer, int(fault), _error("the fault plan says no", "server_error"), headers)
        if job["status"] in ("validating_files", "queued", "running"):
            job["_polls"] += 1
            if job["status"] != "running":
                job["status"] = "running"
                self._job_event(job, "Fine-tuning job started")
            if job["_polls"] > self.plan.ft_polls_before_done:
                self._end_job(job)
            else:
                step, loss = job["_polls"], round(1.0 / job["_polls"], 4)
                data = {"step": step, "train_loss": loss, "total_steps": self.plan.ft_polls_before_done}
                self._job_event(job, f"Step {step}: training loss={loss}", "metrics", data)
        return _send_json(writer, 200, _public(job))

    def _end_job(self, job: dict) -> None:
        job["finished_at"] = int(time.time())
        if self.plan.ft_error:
            job["status"] = "failed"
            job["error"] = {"code": "invalid_training_file", "message": self.plan.ft_error, "param": None}
            self._job_event(job, f"Fine-tuning job failed: {self.plan.ft_error}", level="error")
            return
        suffix = job["user_provided_suffix"] or "custom"
        model = f"ft:{job['model']}:fault-org:{suffix}:{job['id'].removeprefix('ftjob-')}"
        job.update(status="succeeded", fine_tuned_model=model, trained_tokens=job["_tokens"])
        self.fine_tuned[model] = job["_student"]
        self._job_event(job, f"New fine-tuned model created: {model}")
        self._job_event(job, "The job has successfully completed")

    def _job_event(self, job: dict, message: str, kind: str = "message", data=None, level="info") -> None:
        event = {
            "id": f"ftevent-{job['id']}-{len(job['_events']) + 1}",
            "object": "fine_tuning.job.event",
            "created_at": int(time.time()),
            "level": level,
            "message": message,
            "type": kind,
            "data": data,
        }
        job["_events"].append(event)


def _public(job: dict) -> dict:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _metadata_matches(job: dict, params: dict) -> bool:
    wanted = {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}
    return all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())


def _page(items: list[dict], params: dict) -> dict:
    """One page of a list endpoint: `limit` items after the one with id `after`."""
    ids = [item["id"] for item in items]
    start = ids.index(params["after"]) + 1 if params.get("after") in ids else 0
    limit = int(params.get("limit", 20))
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items)}


def _until_stop(text: str, stop) -> str:
    """The text up to the first stop sequence, as a server cuts it."""
    for sequence in [stop] if isinstance(stop, str) else stop or []:
        text = text.split(sequence, 1)[0]
    return text


# --- HTTP helpers ---------------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict, bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, path, headers, body


def _send(writer, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {content_type}"]
    head.append(f"content-length: {len(body)}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _send_json(writer, status: int, data: dict, headers: dict | None = None) -> bool:
    _send(writer, status, json.dumps(data).encode(), "application/json", headers)
    return True


def _error(message: str, code: str) -> dict:
    return {"error": {"message": message, "type": code, "code": code, "param": None}}


def _file_object(file_id: str, size: int) -> dict:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": f"{file_id}.jsonl",
        "purpose": "batch",
        "status": "processed",
    }


def _multipart_file(content_type: str, body: bytes) -> bytes:
    """The `file` part of a multipart/form-data body."""
    boundary = content_type.split("boundary=", 1)[-1].strip('"').encode()
    for part in body.split(b"--" + boundary):
        head, _, content = part.partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return content.removesuffix(b"\r\n")
    return b""


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS.update({429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    for name, default in asdict(FaultPlan()).items():
        if name in ("status",):
            parser.add_argument("--status", type=int, default=None)
        elif isinstance(default, bool):
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                type=lambda s: s.lower() in ("1", "true", "yes"),
                default=default,
            )
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    args = vars(parser.parse_args())
    host, port = args.pop("host"), args.pop("port")
    server = FaultServer(FaultPlan(**args), host, port)

    async def run() -> None:
        await server._open()
        print(f"listening {server.url}", flush=True)
        async with server._server:
            await server._server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
