"""ftcot: Fine-tune-CoT, large language models as reasoning teachers for small students."""

__version__ = "0.1.0"
