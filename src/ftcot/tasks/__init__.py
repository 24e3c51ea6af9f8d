"""Tasks: the paper's 12 benchmarks, generated tasks and user data, in one record schema."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ftcot.errors import ConfigError
from ftcot.tasks.base import SPLITS, Sample, Task, TaskSpec
from ftcot.tasks.registry import ALIASES, PAPER_TASKS

__all__ = ["SPLITS", "Sample", "Task", "TaskSpec", "PAPER_TASKS", "get_task", "task_names"]


def task_names() -> list[str]:
    return list(PAPER_TASKS)


@cache
def _paper_task(name: str) -> Task:
    return Task(PAPER_TASKS[name])


def get_task(name: str, **user_options) -> Task:
    """A paper task by name (or alias), or a user task.

    A user task is a JSONL/CSV/JSON file or `hf:<dataset id>` with column options, or a task
    card: a TOML file holding those options (`source = "data.jsonl"`, `answer_type = "number"`,
    ...), which every command and recipe accepts as a task name.
    """
    key = ALIASES.get(name.lower(), name.lower())
    if key in PAPER_TASKS:
        return _paper_task(key)
    if name.endswith(".toml"):
        return _task_card(Path(name))
    if name.startswith("hf:") or Path(name).suffix.lower() in (".jsonl", ".json", ".csv"):
        from ftcot.tasks.user import load_user_task

        return load_user_task(name, **user_options)
    raise ConfigError(
        f"unknown task {name!r}. Paper tasks: {', '.join(PAPER_TASKS)}; "
        "or give a .jsonl/.csv file or hf:<dataset id> with --answer-type and column options."
    )


def _task_card(path: Path) -> Task:
    from ftcot.tasks.user import load_task_card

    return load_task_card(path)
