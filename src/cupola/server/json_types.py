"""Request bodies that take JSON's types as their OpenAPI document states them.

Pydantic's lax mode turns ``true`` into 1 and ``"5"`` into 5, so a body the document says is invalid
would be accepted; its strict mode refuses those, but also ``16.0`` for an integer, which JSON Schema
counts as an integer. :class:`StrictJSON` is strict, and takes integral numbers for integer fields.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _takes_int(annotation: Any) -> bool:
    """Whether a field's type includes ``int`` but not ``float`` (where 16.0 must become 16)."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) \
        else (annotation,)
    return int in args and float not in args


class StrictJSON(BaseModel):
    model_config = ConfigDict(strict=True)

    @model_validator(mode="before")
    @classmethod
    def _integral_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = None
        for name, field in cls.model_fields.items():
            key = field.alias or name
            value = data.get(key)
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**63 and _takes_int(field.annotation):
                out = out if out is not None else dict(data)
                out[key] = int(value)
        return data if out is None else out
