"""The student stage: fine-tune a small model on curated teacher rationales (`train(TrainConfig(...))`).

Local students (a bundled name, a folder, an HF id) train here with transformers; API students
(`openai:BASE_MODEL`) are fine-tuned by an OpenAI-compatible fine-tuning API
(`ftcot.train.openai_student`). `train_config` makes the right config from one dict of settings.
"""

from ftcot.errors import ConfigError
from ftcot.train.config import TrainConfig
from ftcot.train.openai_student import APITrainConfig, api_train_config, is_api_student


def train_config(settings: dict) -> TrainConfig | APITrainConfig:
    """The config of a student's training from its settings (CLI flags or a recipe's [[students]] entry);
    a setting of the other kind of student is refused by name."""
    if is_api_student(str(settings.get("student", ""))):
        return api_train_config(settings)
    api_only = sorted(set(settings) - set(TrainConfig.model_fields))
    if api_only:
        raise ConfigError(
            f"{', '.join(api_only)}: only API students (openai:BASE_MODEL) take this, not {settings.get('student')!r}"
        )
    return TrainConfig(**settings)


def train(config: TrainConfig | APITrainConfig, callbacks=None):
    """Fine-tune a student; see `ftcot.train.trainer.train` (imported lazily: it pulls in transformers)
    and, for API students, `ftcot.train.openai_student.train_api`."""
    if isinstance(config, APITrainConfig):
        from ftcot.train.openai_student import train_api

        return train_api(config)
    from ftcot.train.trainer import train as _train

    return _train(config, callbacks)


__all__ = ["APITrainConfig", "TrainConfig", "is_api_student", "train", "train_config"]
