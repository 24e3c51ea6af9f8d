"""What a followed job shows: its events, kept once each in OUT/job_events.jsonl, and a status line."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ftcot.redact import redact, redact_value
from ftcot.train.openai_student.client import sdk_field
from ftcot.train.openai_student.files import read_rows

log = logging.getLogger("ftcot.train")

EVENTS_FILE = "job_events.jsonl"  # the job's events as the service reported them, one a line
EVENT_FIELDS = ("id", "created_at", "level", "type", "message", "data")


class EventLog:
    """The job's events in OUT/job_events.jsonl, each once (a resumed run reads the same events again)."""

    def __init__(self, path: Path):
        self.path = path
        self.seen = {e.get("id") for e in read_rows(path)}

    def add(self, events: list) -> list:
        """Append the events not seen before; returns them."""
        new = [e for e in events if e.id not in self.seen]
        with open(self.path, "a", encoding="utf-8") as f:
            for event in new:
                self.seen.add(event.id)
                row = {k: sdk_field(event, k) for k in EVENT_FIELDS}
                f.write(json.dumps(redact_value(row), ensure_ascii=False, default=str) + "\n")
        return new


class JobDisplay:
    """A status line (job id, status, elapsed) with the job's events printed above it, on stderr."""

    def __init__(self, enabled: bool = True):
        from rich.console import Console

        self.enabled = enabled
        self.console = Console(stderr=True)
        self.started = time.monotonic()
        self._status = None

    def __enter__(self) -> JobDisplay:
        if self.enabled:
            self._status = self.console.status("fine-tuning job: starting")
            self._status.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._status is not None:
            self._status.stop()

    def status(self, job) -> None:
        text = f"fine-tuning job {job.id}: {job.status} ({time.monotonic() - self.started:.0f}s)"
        if self._status is not None:
            self._status.update(text)

    def event(self, event) -> None:
        from rich.text import Text

        when = time.strftime("%H:%M:%S", time.localtime(sdk_field(event, "created_at") or time.time()))
        message = redact(str(sdk_field(event, "message")))
        if self.enabled:  # plain text: a message may hold `[...]`, which rich would take for markup
            self.console.print(Text.assemble((when, "dim"), " ", message), highlight=False)
        else:
            log.info("%s %s", when, message)
