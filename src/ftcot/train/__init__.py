"""The student stage: fine-tune a small model on curated teacher rationales (`train(TrainConfig(...))`)."""

from ftcot.train.config import TrainConfig


def train(config: TrainConfig, callbacks=None):
    """Fine-tune a student; see `ftcot.train.trainer.train` (imported lazily: it pulls in transformers)."""
    from ftcot.train.trainer import train as _train

    return _train(config, callbacks)


__all__ = ["TrainConfig", "train"]
