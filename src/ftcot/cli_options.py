"""Command-line options derived from the pydantic config models: one fact in one place.

`config_options(Model)` gives a typer command one option per field of a config model, the way
Hugging Face's `HfArgumentParser` derives flags from dataclasses:

- the flag is `--field-name` (a `bool` is `--field-name/--no-field-name`; `names` renames, e.g.
  `{"chat": "--chat/--completions"}`), or a positional argument for the fields in `arguments`;
- its type comes from the annotation: `X | None`, `Literal[...]` (the values are the choices),
  `bool`, `int`, `float`, `str`, `Path` and `list[X]` (a repeatable option);
- its default is the model's default (a required field is a required flag), so the CLI never holds
  a second copy: change the model and the CLI follows;
- its help is the field's description (`help` overrides one, `help_prefix` prefixes them all).

The command takes the fields as keyword arguments and builds its config from them; its own options
(`--json`, ...) stay ordinary parameters:

    @app.command(cls=ConfigCommand)
    @config_options("ftcot.curate:CurateConfig", arguments=["run_dir"])
    def curate(as_json: bool = False, **options) -> None:
        config = CurateConfig(**options)

A model named by "module:Class" is imported only when its command runs or prints its help, so
`ftcot --help` and the light commands never import a stage's module (`ftcot.evaluate` imports torch);
that needs `cls=ConfigCommand`. A model class is read at once. Decorators stack: the options of the
outer one come first, and a field two models share is the outer model's option.
"""

from __future__ import annotations

import enum
import functools
import importlib
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import typer
from rich.markup import escape
from typer.core import TyperCommand

_SPECS = "__ftcot_config_options__"  # on a command: the option sets it takes, in the order applied
_BASE = "__ftcot_command__"  # on a command: the function as written, which takes the fields as **options
_PENDING = "__ftcot_options_pending__"  # on a command registered before its model is imported
SIMPLE_TYPES = (str, int, float, bool, Path)

HelpTexts = Mapping[str, str] | Callable[[], Mapping[str, str]]


@dataclass(frozen=True)
class _OptionSet:
    """The options one `config_options` call adds."""

    model: Any  # a pydantic model class, or "module:Class"
    include: tuple[str, ...] | None = None
    exclude: frozenset[str] = frozenset()
    arguments: frozenset[str] = frozenset()
    names: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    help: HelpTexts = field(default_factory=dict)
    help_prefix: str = ""

    def model_class(self):
        if not isinstance(self.model, str):
            return self.model
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(module), name)

    def fields(self) -> dict:
        """The model's fields that are options, in the model's order."""
        fields = self.model_class().model_fields
        unknown = set(self.include or ()) | self.exclude | self.arguments | set(self.names)
        unknown -= set(fields)
        if unknown:
            raise TypeError(f"{self.model}: no fields {sorted(unknown)}")
        names = [n for n in fields if (self.include is None or n in self.include) and n not in self.exclude]
        return {n: fields[n] for n in names}

    def parameters(self) -> list[inspect.Parameter]:
        texts = self.help() if callable(self.help) else self.help
        return [self._parameter(name, info, texts) for name, info in self.fields().items()]

    def _parameter(self, name: str, info, texts: Mapping[str, str]) -> inspect.Parameter:
        annotation = cli_type(info.annotation, f"{self.model_class().__name__}_{name}")
        text = texts.get(name) or (self.help_prefix + info.description if info.description else None)
        text = escape(text) if text else None  # typer reads help as rich markup: `[label]` would vanish
        if name in self.arguments:
            parameter = typer.Argument(help=text)
        else:
            flag = name.replace("_", "-")
            decls = self.names.get(name) or (
                f"--{flag}/--no-{flag}" if _bare(annotation) is bool else f"--{flag}"
            )
            parameter = typer.Option(*((decls,) if isinstance(decls, str) else decls), help=text)
        default = (
            inspect.Parameter.empty if info.is_required() else info.get_default(call_default_factory=True)
        )
        if isinstance(default, enum.Enum):
            default = default.value
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, parameter]
        )


def config_options(
    model,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    arguments: Iterable[str] = (),
    names: Mapping[str, str | tuple[str, ...]] | None = None,
    help: HelpTexts | None = None,
    help_prefix: str = "",
):
    """A decorator: the command gets an option for each field of `model` (a pydantic model class, or
    "module:Class" to import it only when the command is built: register it with `cls=ConfigCommand`).

    include/exclude: the fields that are options (default: all); arguments: fields that are positional
    arguments; names: flag declarations instead of `--field-name`; help: help texts instead of the
    descriptions (a mapping, or a function returning one, called when the command is built);
    help_prefix: put before every description (e.g. "API: ").
    """
    options = _OptionSet(
        model,
        include=tuple(include) if include is not None else None,
        exclude=frozenset(exclude),
        arguments=frozenset(arguments),
        names=dict(names or {}),
        help=help if help is not None else {},
        help_prefix=help_prefix,
    )

    def decorate(command: Callable) -> Callable:
        base = getattr(command, _BASE, command)
        option_sets = [*getattr(command, _SPECS, ()), options]
        if not any(isinstance(s.model, str) for s in option_sets):
            return build_command(base, option_sets)
        return _placeholder(base, option_sets)

    return decorate


def build_command(base: Callable, option_sets: list[_OptionSet]) -> Callable:
    """`base` with the signature typer reads: each option set's fields (the last applied first), then
    `base`'s own parameters. Choices arrive as plain values, as the models expect them."""
    own = [p for p in _signature(base).parameters.values() if p.kind is not p.VAR_KEYWORD]
    if option_sets and not any(p.kind is p.VAR_KEYWORD for p in _signature(base).parameters.values()):
        raise TypeError(f"{base.__name__} must take the config fields as **options")
    own_names = {p.name for p in own}
    parameters: list[inspect.Parameter] = []
    for option_set in option_sets:  # an outer set's options come first, and win a field both have
        outer = option_set.parameters()
        clash = own_names & {p.name for p in outer}
        if clash:
            raise TypeError(f"{base.__name__}: its own parameters {sorted(clash)} are also config fields")
        parameters = outer + [p for p in parameters if p.name not in {q.name for q in outer}]
    parameters += [p.replace(kind=p.KEYWORD_ONLY) for p in own]

    @functools.wraps(base)
    def command(**kwargs):
        return base(**{k: v.value if isinstance(v, enum.Enum) else v for k, v in kwargs.items()})

    _set_signature(command, parameters)
    setattr(command, _BASE, base)
    setattr(command, _SPECS, option_sets)
    return command


def _placeholder(base: Callable, option_sets: list[_OptionSet]) -> Callable:
    """What typer registers for a command whose model is imported later: its own parameters only."""

    @functools.wraps(base)
    def command(**kwargs):
        raise TypeError(
            f"register `{base.__name__}` with @app.command(cls=ConfigCommand): its options are missing"
        )

    own = [p for p in _signature(base).parameters.values() if p.kind is not p.VAR_KEYWORD]
    _set_signature(command, [p.replace(kind=p.KEYWORD_ONLY) for p in own])
    setattr(command, _BASE, base)
    setattr(command, _SPECS, option_sets)
    setattr(command, _PENDING, True)
    return command


class ConfigCommand(TyperCommand):
    """A typer command whose config options are made when first needed: when it parses its arguments
    or prints its help, not when the `ftcot` group is built (which would import every stage)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # typer registers its own wrapper of the function, which keeps the function's attributes.
        self._built = not getattr(self.callback, _PENDING, False)

    @property
    def params(self) -> list:
        if not self.__dict__.get("_built", True):
            self._build()
        return self._params

    @params.setter
    def params(self, value: list) -> None:
        self._params = value

    def _build(self) -> None:
        self._built = True
        full = build_command(getattr(self.callback, _BASE), getattr(self.callback, _SPECS))
        markup = {"rich_markup_mode": self.rich_markup_mode} if hasattr(self, "rich_markup_mode") else {}
        one = typer.Typer(add_completion=False, **markup)
        one.command(self.name)(full)
        built = typer.main.get_command(one)
        self._params, self.callback = built.params, built.callback


def given(ctx: typer.Context, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options the user gave (on the command line, say), without those left at their defaults: a
    config then applies its own rules to the others (a preset, or another model's defaults)."""
    # By name: typer may bring its own copy of click, whose ParameterSource is another enum.
    sources = {k: getattr(ctx.get_parameter_source(k), "name", None) for k in options}
    return {k: v for k, v in options.items() if sources[k] not in ("DEFAULT", None)}


def cli_type(annotation, name: str = "Choice"):
    """The type typer reads for a field's annotation: `X | None` stays optional, a `Literal` of strings
    becomes an Enum of its values (choices on every typer version), `list[X]` a repeatable option."""
    optional, inner = _split_optional(annotation)
    if typing.get_origin(inner) is Literal:
        values = typing.get_args(inner)
        if not all(isinstance(v, str) for v in values):
            raise TypeError(f"{name}: only Literal choices of strings are options ({annotation})")
        inner = enum.Enum(name, [(v, v) for v in values], type=str)
    elif typing.get_origin(inner) is list:
        (item,) = typing.get_args(inner) or (str,)
        if item not in SIMPLE_TYPES or item is bool:
            raise TypeError(f"{name}: no option for {annotation}")
    elif inner not in SIMPLE_TYPES:
        raise TypeError(f"{name}: no option for {annotation}")
    return Optional[inner] if optional else inner  # noqa: UP045 - a runtime type, built from a variable


def _split_optional(annotation) -> tuple[bool, Any]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = typing.get_args(annotation)
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"no option for a union of several types: {annotation}")
        return len(rest) < len(args), rest[0]
    return False, annotation


def _bare(annotation):
    return _split_optional(annotation)[1]


def _signature(function: Callable) -> inspect.Signature:
    return inspect.signature(function, eval_str=True)


def _set_signature(function: Callable, parameters: list[inspect.Parameter]) -> None:
    function.__signature__ = inspect.Signature(parameters)
    function.__annotations__ = {p.name: p.annotation for p in parameters}
