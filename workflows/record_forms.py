"""A record kind's fields as a web form or a checklist sees them: dotted paths, input types, required or not."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel

from workflows.records import RECORD_TYPES, BankLoan, Record, SelfFinancing


def record_fields(kind: str) -> list[tuple[str, bool]]:
    """Return a record kind's top-level fields and whether each is required."""
    kind_type = RECORD_TYPES[kind]
    models: list[type[Record]] = [BankLoan, SelfFinancing] if kind == "loan" else [kind_type]
    fields: dict[str, bool] = {}
    for model in models:
        for name, info in model.model_fields.items():
            fields[name] = fields.get(name, True) and info.is_required()
    return list(fields.items())


@dataclass(frozen=True)
class FormField:
    """One input of a record's form: its dotted path, input type, whether required, and the choices of a list."""

    path: str
    kind: str  # text, date, number, checkbox, select
    required: bool
    choices: tuple[str, ...] = ()


def form_fields(kind: str) -> list[FormField]:
    """Return a record kind's fields flattened to dotted paths (nested groups included), for a web form."""
    models: list[type[BaseModel]] = [BankLoan, SelfFinancing] if kind == "loan" else [RECORD_TYPES[kind]]
    per_model = [{item.path: item for item in _flatten(model, "", True)} for model in models]
    found: dict[str, FormField] = {}
    for fields in per_model:
        for path, item in fields.items():
            required = all(path in other and other[path].required for other in per_model)  # a union's field: needed by each side
            choices = tuple(dict.fromkeys((*found[path].choices, *item.choices))) if path in found else item.choices
            found[path] = FormField(path, item.kind, required, choices)
    return list(found.values())


def _flatten(model: type[BaseModel], prefix: str, required: bool) -> list[FormField]:
    fields: list[FormField] = []
    for name, info in model.model_fields.items():
        annotation, needed = info.annotation, required and info.is_required()
        arguments = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(arguments) == 1:
            annotation = arguments[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields += _flatten(annotation, f"{prefix}{name}.", needed)
        elif typing.get_origin(annotation) is Literal:
            fields.append(FormField(prefix + name, "select", needed, tuple(str(a) for a in typing.get_args(annotation))))
        else:
            kind = {date: "date", int: "number", bool: "checkbox"}.get(annotation, "text")  # type: ignore[arg-type]
            fields.append(FormField(prefix + name, kind, needed and kind != "checkbox"))
    return fields
