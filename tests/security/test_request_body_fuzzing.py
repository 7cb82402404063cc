"""Bad input must never be a 5xx (CWE-20): a property over every endpoint that reads a body,
found in the app's own OpenAPI document, so that an endpoint added tomorrow is covered without
touching this file. Bodies are JSON-ish objects built from the endpoint's documented member
names and arbitrary ones, whose strings hold what breaks encoders and parsers: lone
surrogates (JSON spells them ``"\\ud800"``), NUL and other controls, bidi overrides, a BOM;
and sometimes arbitrary bytes. The property: no answer is a 5xx, and every 4xx that is JSON is
a standard error (RFC 6749 §5.2 ``{"error", ...}`` or an RFC 9457 problem). Endpoints that
answer HTML (the authorization and logout pages) are held to the first half.

Hypothesis runs derandomized, a bounded number of examples per endpoint and media type, no
deadline.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostiary.server import create_app
from tests.http._server import BASE_URL, CLIENT_ADDRESS, PASSWORD, settings_for

pytestmark = pytest.mark.slow

EXAMPLES: Final = 40
JSON_MEDIA: Final = "application/json"
FORM_MEDIA: Final = "application/x-www-form-urlencoded"
#: What breaks encoders and parsers, mixed into otherwise arbitrary text.
NASTY: Final = ["\ud800", "\udfff", "\x00", "\n", "\r", "\x1b", "\x7f", "\x85", "\u202e", "\ufeff"]

Operation = tuple[str, str, tuple[tuple[str, str], ...]]  # method, path, (member, JSON type)
#: Methods whose requests carry a body.
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def body_operations() -> list[Operation]:
    """Every operation of the app that takes a body: each one in its OpenAPI document (those
    that read their body by hand included, documented or not), and each plain route; with
    the member names its request body documents, or every name documented anywhere when it
    documents none."""
    with tempfile.TemporaryDirectory(prefix="ostiary-body-fuzz-") as workdir:
        app = create_app(settings_for(Path(workdir)))
        document = app.openapi()
    components = document.get("components", {}).get("schemas", {})
    documented: dict[tuple[str, str], dict[str, str]] = {}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method.upper() not in BODY_METHODS:
                continue
            members = documented.setdefault((method.upper(), path), {})
            for media in operation.get("requestBody", {}).get("content", {}).values():
                members |= _members(media.get("schema", {}), components)
    for route in _every_route(app.routes):  # those left out of the document too
        for method in BODY_METHODS & set(getattr(route, "methods", None) or ()):
            documented.setdefault((method, getattr(route, "path", "")), {})
    every_member: dict[str, str] = {}
    for members in documented.values():
        every_member |= members
    return [
        (method, re.sub(r"{[^}]+}", "x", path), tuple(sorted((members or every_member).items())))
        for (method, path), members in sorted(documented.items())
    ]


def _every_route(routes: Sequence[Any]) -> Iterator[Any]:
    """The routes, and those of included routers and mounts. (FastAPI 0.165 wraps an included
    router in an object whose ``original_router`` has them; the sanity test below notices if
    that changes.)"""
    for route in routes:
        inner = getattr(route, "routes", None)
        if inner is None:
            inner = getattr(getattr(route, "original_router", None), "routes", None)
        if inner is not None:
            yield from _every_route(inner)
        else:
            yield route


def _members(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, str]:
    """Member name -> JSON type ("string" when the schema does not say one)."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        schema = components.get(ref.rsplit("/", 1)[-1], {})
    members = {
        name: sub.get("type") if isinstance(sub.get("type"), str) else "string"
        for name, sub in schema.get("properties", {}).items()
    }
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            members |= _members(part, components)
    return members


OPERATIONS: Final = body_operations()


def texts() -> st.SearchStrategy[str]:
    pieces = st.one_of(st.text(max_size=8), st.sampled_from(NASTY))
    return st.lists(pieces, max_size=6).map("".join)


def values_of(json_type: str) -> st.SearchStrategy[Any]:
    if json_type == "boolean":
        return st.booleans()
    if json_type == "integer":
        return st.integers()
    return texts()


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        texts(),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(texts(), inner, max_size=3)
        ),
        max_leaves=6,
    )


def objects(members: dict[str, str]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects whose members are mostly the documented ones, every one or some, with values
    of their documented type (strings full of what breaks encoders), so that the values get
    past the body reader to the code behind it; and arbitrary ones."""
    values = {name: values_of(json_type) for name, json_type in sorted(members.items())}
    every = st.fixed_dictionaries(values)
    some = st.fixed_dictionaries({}, optional=values)
    known = st.sampled_from(sorted(members)) if members else texts()
    arbitrary = st.dictionaries(st.one_of(known, texts()), json_values(), max_size=5)
    return st.one_of(every, every, some, arbitrary)


def bodies(media: str, members: dict[str, str]) -> st.SearchStrategy[bytes]:
    """A body of ``media``: mostly well-formed JSON or a form, sometimes arbitrary bytes."""
    raw = st.binary(max_size=64)
    if media == JSON_MEDIA:
        # ensure_ascii: a lone surrogate travels as the escape "\ud800", in valid UTF-8.
        as_json = objects(members).map(lambda o: json.dumps(o, ensure_ascii=True).encode())
        return st.one_of(as_json, as_json, as_json, raw)
    names = sorted(members) or ["x"]
    pairs = st.lists(st.tuples(st.one_of(st.sampled_from(names), texts()), texts()), max_size=5)
    as_form = pairs.map(_form)
    return st.one_of(as_form, as_form, as_form, raw)


def _form(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import quote

    def enc(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs).encode()


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with tempfile.TemporaryDirectory(prefix="ostiary-body-fuzz-") as workdir:
        app = create_app(settings_for(Path(workdir)))
        with TestClient(
            app, base_url=BASE_URL, raise_server_exceptions=False, client=(CLIENT_ADDRESS, 4321)
        ) as test_client:
            yield test_client


@pytest.fixture(scope="module")
def access_token(client: TestClient) -> str:
    """A user's token, so that the body of a Bearer-protected endpoint is read too."""
    credentials = {"username": "fuzz", "password": PASSWORD}
    assert client.post("/auth/register", json=credentials).status_code == 201
    login = client.post("/auth/login", json=credentials)
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def test_every_body_endpoint_is_found() -> None:
    """Sanity: the enumeration sees the JSON endpoints, the form endpoints and those the
    OpenAPI document does not describe."""
    seen = {(method, path) for method, path, _ in OPERATIONS}
    for expected in (
        ("POST", "/auth/login"),
        ("POST", "/auth/register"),
        ("POST", "/auth/password"),
        ("POST", "/oauth/token"),
        ("POST", "/oauth/revoke"),
        ("POST", "/oauth/authorize"),
        ("POST", "/oauth/logout"),
    ):
        assert expected in seen


def is_standard_error(status: int, headers: Any, body: Any) -> bool:
    """RFC 6749 §5.2, RFC 9457, or RFC 6750 §3.1's answer to a request without credentials
    (a challenge, and no error code)."""
    if not isinstance(body, dict):
        return False
    oauth = isinstance(body.get("error"), str)
    problem = {"type", "title", "status", "detail"} <= body.keys()
    unauthenticated = status == 401 and headers.get("www-authenticate", "").startswith("Bearer")
    return oauth or problem or (unauthenticated and "error_description" in body)


@pytest.mark.parametrize("media", [JSON_MEDIA, FORM_MEDIA], ids=["json", "form"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_no_body_makes_a_5xx(
    client: TestClient, access_token: str, operation: Operation, media: str
) -> None:
    method, path, members = operation

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(body=bodies(media, dict(members)), authenticated=st.booleans())
    def check(body: bytes, authenticated: bool) -> None:
        headers = {"Content-Type": media}
        if authenticated:
            headers["Authorization"] = f"Bearer {access_token}"
        answer = client.request(method, path, content=body, headers=headers)
        assert answer.status_code < 500, (answer.status_code, body, answer.text)
        if answer.status_code >= 400 and "json" in answer.headers.get("content-type", ""):
            standard = is_standard_error(answer.status_code, answer.headers, answer.json())
            assert standard, (body, answer.text)

    check()
