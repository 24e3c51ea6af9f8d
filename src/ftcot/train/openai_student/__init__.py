"""API students: fine-tune a hosted model through an OpenAI-compatible fine-tuning API, as the paper
did for GPT-3 (ada, babbage, curie).

    ftcot train runs/data --student openai:gpt-4o-mini-2024-07-18 --out runs/student-api
    ftcot eval runs/student-api --task multiarith --method ft_cot --out runs/eval-api

`train_api` uploads the curated training and validation files, creates one fine-tuning job,
follows it until it ends (its events stream to the progress display) and writes the
fine-tuned model id, the job id, the trained tokens and the cost into OUT/manifest.json. The
status is "complete" only when the job succeeded and the fine-tuned model id is known.

Cost-safe and resumable. A job is named by a *fingerprint*: a hash of the training files and of
every setting that changes what is trained. Before it uploads or creates anything, a run looks
for the job of its fingerprint: in OUT's manifest, else among the account's jobs (the
fingerprint travels in the job's metadata and its suffix), so a rerun, a lost manifest or a kill
between creating the job and writing the manifest never pays twice. A job that failed or was
cancelled is not reused: a rerun starts a new one. `dry_run` prints the training tokens and the
estimated cost; `max_cost` refuses to start a job estimated above it. Ctrl-C (or SIGTERM) while
following a job leaves it running on the server: rerun to follow it again, or `--cancel` it.

Formats (what `ftcot eval` prompts the fine-tuned model with; the text comes from `ftcot.prompts`):
  chat         user `{question} ###`, assistant `{rationale} --> {answer}`: curate's openai/ export
  completions  prompt `{question} ###`, completion ` {rationale} --> {answer} END`, for the legacy
               completions models (babbage-002, davinci-002), which learn to stop at ` END`
The vanilla baseline trains `{question} ###` -> `{answer}` the same way.

The package, one file per concern:
  config    APITrainConfig: the settings, what the CLI flags are
  files     the training files uploaded, and the fingerprint that names the job
  cost      training tokens, the price table, the estimate and the --max-cost check
  client    FineTuningAPI: the `openai` SDK with our retries
  job       train_api: find or start the job, follow it to its end; cancel
  progress  the job's events (OUT/job_events.jsonl) and the status line
  manifest  the train manifest, and the result of a job that ended
  serve     the fine-tuned model, served for `ftcot eval`
"""

from ftcot.train.openai_student.client import FINISHED, NOT_REUSED, APIError, FineTuningAPI
from ftcot.train.openai_student.config import (
    COMPLETIONS_MODELS,
    PREFIX,
    APITrainConfig,
    api_train_config,
    is_api_student,
)
from ftcot.train.openai_student.cost import (
    AUTO_EPOCHS,
    TRAINING_PRICES,
    check_budget,
    count_tokens,
    estimate,
    load_training_prices,
)
from ftcot.train.openai_student.files import (
    TrainingFiles,
    completion_examples,
    default_suffix,
    fingerprint,
    training_files,
)
from ftcot.train.openai_student.job import cancel, follow, train_api
from ftcot.train.openai_student.manifest import STOP, student_format
from ftcot.train.openai_student.progress import EVENTS_FILE, EventLog, JobDisplay
from ftcot.train.openai_student.serve import is_fine_tuned, served_student, trained_on_chat

__all__ = [
    "AUTO_EPOCHS",
    "COMPLETIONS_MODELS",
    "EVENTS_FILE",
    "FINISHED",
    "NOT_REUSED",
    "PREFIX",
    "STOP",
    "TRAINING_PRICES",
    "APIError",
    "APITrainConfig",
    "EventLog",
    "FineTuningAPI",
    "JobDisplay",
    "TrainingFiles",
    "api_train_config",
    "cancel",
    "check_budget",
    "completion_examples",
    "count_tokens",
    "default_suffix",
    "estimate",
    "fingerprint",
    "follow",
    "is_api_student",
    "is_fine_tuned",
    "load_training_prices",
    "served_student",
    "student_format",
    "train_api",
    "trained_on_chat",
    "training_files",
]
