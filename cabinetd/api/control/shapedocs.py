"""The tables of docs/cabinetctl.md's JSON OUTPUT section, made from the control API's shapes
(cabinetd/api/control/shapes.py) so that the manual cannot drift from the answers."""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, JsonValue


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        return _type_text(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type_text(arg) for arg in args)
    if origin is Literal:
        return " or ".join(f'`"{arg}"`' for arg in args)
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if origin is dict:
        return f"object of {_type_text(args[1])}"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    if annotation is JsonValue:
        return "any JSON"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, "any JSON")


def _table(model: type[BaseModel]) -> list[str]:
    lines = [f"**{model.__name__}**", "", "| field | type | meaning |", "|---|---|---|"]
    hints = typing.get_type_hints(model, include_extras=True)
    for name, field in model.model_fields.items():
        lines.append(f"| `{name}` | {_type_text(hints[name])} | {field.description or ''} |")
    return [*lines, ""]


def _nested(model: type[BaseModel], seen: list[type[BaseModel]]) -> None:
    if model in seen:
        return
    seen.append(model)
    for hint in typing.get_type_hints(model).values():
        for inner in _models_in(hint):
            _nested(inner, seen)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [found for arg in typing.get_args(annotation) for found in _models_in(arg)]


def describe(commands: Mapping[str, type[BaseModel]], problem: type[BaseModel]) -> str:
    """Which shape each command prints, then each shape with the shapes it holds."""
    lines = ["| command | prints |", "|---|---|"]
    lines += [f"| `{command}` | {model.__name__} |" for command, model in commands.items()]
    lines += [f"| any, on failure (HTTP answer of the daemon) | {problem.__name__} |", ""]
    seen: list[type[BaseModel]] = []
    for model in [*commands.values(), problem]:
        _nested(model, seen)
    for model in seen:
        lines += _table(model)
    return "\n".join(lines)
