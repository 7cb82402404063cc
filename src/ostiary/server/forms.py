"""Reading OAuth requests: form-encoded bodies (RFC 6749 §3.2, Appendix B) and the client's
credentials (RFC 6749 §2.3). Strict: a repeated parameter is an ``invalid_request``
(RFC 6749 §3.1 and §3.2), except ``resource`` (RFC 8707 §2); the error never repeats a value.
A body must be UTF-8 (which rules out surrogates) and holds no NUL."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_plus

from fastapi import Request

from ostiary.authn.client_auth import ClientCredentials
from ostiary.errors import InvalidClient, InvalidRequest
from ostiary.grants import OAuthParams

FORM: Final = "application/x-www-form-urlencoded"
#: Parameters that may appear several times.
REPEATABLE: Final = frozenset({"resource"})
MAX_FIELDS: Final = 50


async def read_form(request: Request) -> OAuthParams:
    """The form body of ``request`` as a :class:`OAuthParams`."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != FORM:
        raise InvalidRequest(f"The request body must be {FORM}.")
    return parse_form(await request.body())


def parse_form(body: bytes) -> OAuthParams:
    try:
        pairs = _pairs(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form body is malformed or has too many fields.") from None
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise InvalidRequest("The form body holds a NUL.")
    return _single_valued(pairs)


def _pairs(text: str) -> list[tuple[str, str]]:
    """What ``parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text),
    max_num_fields=MAX_FIELDS, errors="strict")`` reads (every field needs a ``=``, ``+`` is
    a space, percent-escapes are UTF-8), without its generic setup for every call and its
    unquoting of fields that hold nothing to unquote. ``ValueError`` (``UnicodeDecodeError``
    among them) as it raises."""
    if not text:
        return []
    fields = text.split("&")
    if len(fields) > MAX_FIELDS:
        raise ValueError("too many fields")
    pairs: list[tuple[str, str]] = []
    for field in fields:
        name, equals, value = field.partition("=")
        if not equals:
            raise ValueError("a field without '='")
        if "%" in field or "+" in field:
            name = unquote_plus(name, errors="strict")
            value = unquote_plus(value, errors="strict")
        pairs.append((name, value))
    return pairs


def _single_valued(pairs: Iterable[tuple[str, str]]) -> OAuthParams:
    params: dict[str, str] = {}
    resources: list[str] = []
    for name, value in pairs:
        if name in REPEATABLE:
            resources.append(value)
        elif name in params:
            raise InvalidRequest(f"The {name[:40]} parameter is repeated.")
        else:
            params[name] = value
    return OAuthParams(params, tuple(resources))


def client_credentials(request: Request, form: OAuthParams) -> ClientCredentials:
    """What the request carries to authenticate its client: ``Authorization: Basic`` and the
    ``client_id``, ``client_secret``, ``client_assertion_type`` and ``client_assertion``
    parameters (the authenticator refuses more than one method)."""
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        raise InvalidRequest("Send one Authorization header.")
    basic = _basic(headers[0]) if headers else None
    return ClientCredentials(
        basic=basic,
        client_id=form.get("client_id"),
        client_secret=form.get("client_secret"),
        client_assertion_type=form.get("client_assertion_type"),
        client_assertion=form.get("client_assertion"),
    )


def _basic(header: str) -> tuple[str, str]:
    """RFC 7617 with RFC 6749 §2.3.1: the id and secret are form-urlencoded, then joined by a
    colon and base64-encoded."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient(detail=f"Authorization scheme {scheme[:20]!r} at a client endpoint")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClient(detail="Authorization: Basic is not valid base64 UTF-8") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClient(detail="Authorization: Basic has no id:secret")
    return unquote_plus(client_id), unquote_plus(secret)
