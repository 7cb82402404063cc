"""Reading a JSON request body strictly: the right media type, valid JSON, one object without
repeated members, and fields of the right types. Every failure is a 400 (415 for another
media type) with a message that says what was wrong and never repeats the input. The nesting
depth is checked by a linear scan before the parser sees the body.

JSON can spell a string Python holds but cannot encode: a lone UTF-16 surrogate
(``"\\ud800"``). Such a string, or one with a NUL, means nothing in any field of this API
and breaks whatever encodes it later (a digest, a hash, a database driver), so any member
name or string value that holds one refuses the whole body here, for every endpoint at once.
Other control characters are left to the fields that care (usernames refuse them, new
passwords too; see :mod:`ostiary.authn`)."""

from __future__ import annotations

import json
import re
from typing import Any, Final, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from ostiary.errors import InvalidRequest
from ostiary.server.errors import UnsupportedMediaType, validation_message
from ostiary.settings import Settings

Model = TypeVar("Model", bound=BaseModel)
#: The default of ``Settings.max_json_depth``.
MAX_DEPTH: Final = 32
#: A string (its closing quote optional, so that an unclosed one ends the scan instead of
#: being retried from every later quote) or a bracket: one pass, each byte read once.
_TOKEN: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_OPENING: Final = frozenset(b"[{")
#: NUL and the UTF-16 surrogates, which no text of ours holds (see the module docstring).
_NOT_TEXT: Final = re.compile("[\x00\ud800-\udfff]")


class _RepeatedMember(ValueError):
    pass


async def read_json(request: Request, model: type[Model]) -> Model:
    """The body of ``request`` as ``model``."""
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    data = parse_object(await request.body(), max_depth=_max_depth(request))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(validation_message(exc.errors(include_input=False))) from None


def parse_object(raw: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """``raw`` as a JSON object, or :class:`InvalidRequest`: not JSON (``NaN`` and numbers of
    more than 4300 digits included), nested deeper than ``max_depth``, a repeated member, or
    not an object."""
    if nesting_depth(raw, stop_after=max_depth) > max_depth:
        raise InvalidRequest(f"The JSON body is nested deeper than {max_depth} levels.")
    try:
        data = json.loads(raw, object_pairs_hook=_object, parse_constant=_no_constant)
    except _RepeatedMember:
        raise InvalidRequest("The JSON body repeats a member name.") from None
    except (ValueError, RecursionError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if not _is_text(data):
        raise InvalidRequest("The JSON body holds a NUL or a lone surrogate, which are not text.")
    return data


def nesting_depth(raw: bytes, *, stop_after: int) -> int:
    """How deep brackets outside strings nest in ``raw`` (valid JSON or not), counting no
    further than one past ``stop_after``."""
    depth = deepest = 0
    for token in _TOKEN.finditer(raw):
        first = token[0][0]
        if first in _OPENING:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_after:
                    break
        elif first != ord('"'):
            depth = max(depth - 1, 0)
    return deepest


def _max_depth(request: Request) -> int:
    settings = getattr(getattr(request.app.state, "services", None), "settings", None)
    return settings.max_json_depth if isinstance(settings, Settings) else MAX_DEPTH


def _is_text(value: Any) -> bool:
    """Whether every string in ``value`` (member names included) is encodable text without
    NUL. Recursion is bounded: the depth was checked before parsing."""
    if isinstance(value, str):
        return _NOT_TEXT.search(value) is None
    if isinstance(value, dict):
        return all(_is_text(name) and _is_text(item) for name, item in value.items())
    if isinstance(value, list):
        return all(_is_text(item) for item in value)
    return True


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
