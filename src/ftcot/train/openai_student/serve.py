"""Evaluating an API student: the served model its train folder names, prompted as it was trained."""

from __future__ import annotations

from ftcot.errors import ConfigError
from ftcot.train.openai_student.config import COMPLETIONS_MODELS, PREFIX


def served_student(config, student):
    """An `EvalConfig` of an API student's train folder (`student`: its TrainManifest), made into the
    served model it names (`openai:ft:...`, on its server and endpoint); other configs come back unchanged."""
    api = student.api if student is not None else None
    if api is None:
        return config
    if student.status != "complete" or not api.fine_tuned_model:
        raise ConfigError(
            f"{config.model}: the fine-tuning job has no model yet (status {student.status!r}); "
            "rerun `ftcot train` with the same arguments to finish it"
        )
    update = {
        "model": f"{PREFIX}{api.fine_tuned_model}",
        "base_url": config.base_url or api.base_url,
        "chat": config.chat if config.chat is not None else api.endpoint != "completions",
    }
    if "api_key_env" not in config.model_fields_set and api.api_key_env:
        update["api_key_env"] = api.api_key_env
    return config.model_copy(update=update)


def is_fine_tuned(model: str) -> bool:
    """An OpenAI fine-tuned model (`openai:ft:BASE:ORG:SUFFIX:ID`): prompted in its training format."""
    return model.startswith(f"{PREFIX}ft:")


def trained_on_chat(model: str) -> bool:
    """Whether a served model answers on the chat endpoint: a fine-tuned legacy completions model
    (`ft:babbage-002:...`, `ft:davinci-002:...`) does not."""
    name = model.removeprefix(PREFIX).removeprefix("ft:")
    return not name.startswith(COMPLETIONS_MODELS)
