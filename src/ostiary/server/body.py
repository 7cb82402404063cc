"""Reading a JSON request body strictly: the right media type, valid JSON, one object without
repeated members, and fields of the right types. Every failure is a 400 (415 for another
media type) with a message that says what was wrong and never repeats the input."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from ostiary.errors import InvalidRequest
from ostiary.server.errors import UnsupportedMediaType, validation_message

Model = TypeVar("Model", bound=BaseModel)


class _RepeatedMember(ValueError):
    pass


async def read_json(request: Request, model: type[Model]) -> Model:
    """The body of ``request`` as ``model``."""
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    raw = await request.body()
    try:
        data = json.loads(raw, object_pairs_hook=_object, parse_constant=_no_constant)
    except _RepeatedMember:
        raise InvalidRequest("The JSON body repeats a member name.") from None
    except (ValueError, RecursionError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc.errors(include_input=False))) from None


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise _RepeatedMember
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
