"""Schemathesis against the server's own OpenAPI document (dev mode serves it at
``/openapi.json``), in-process through ASGI: every operation, with and without a valid Bearer
token, valid and invalid input, a bounded and deterministic number of examples. No answer may
be a 5xx, and every documented answer must match its schema.

Schemathesis runs the app's lifespan once, in its own event-loop thread, and keeps it for the
rest of the process; the app runs on memory storage and a key directory of its own."""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("schemathesis")

import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ostiary.server import create_app
from ostiary.storage import MemoryStorage

from ._server import PASSWORD, settings_for

pytestmark = pytest.mark.slow

EXAMPLES: Final = 25
JSON: Final = {"Content-Type": "application/json"}
CHECKS: Final = [not_a_server_error, response_schema_conformance]
#: Operations left out, and why. Empty: every operation is fuzzed.
EXCLUDED: Final[dict[str, str]] = {}
USERS: Final = itertools.count(1)


@pytest.fixture(scope="module")
def schema() -> Iterator[Any]:
    with tempfile.TemporaryDirectory(prefix="ostiary-fuzz-") as workdir:
        app = create_app(settings_for(Path(workdir)), storage=MemoryStorage())
        loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield loaded


@pytest.fixture
def access_token(schema: Any) -> str:
    """A token of a user of each test's own, registered through the API: fuzzing
    ``/auth/logout-all`` ends every session of the user it names."""
    username = f"fuzz-{next(USERS)}"
    body = json.dumps({"username": username, "password": PASSWORD})
    answers = [
        schema[path]["POST"].Case().call(headers=JSON, data=body)
        for path in ("/auth/register", "/auth/login")
    ]
    assert [answer.status_code for answer in answers] == [201, 200], answers[-1].text
    token: str = answers[-1].json()["access_token"]
    return token


def operations() -> list[str]:
    """Every ``METHOD /path`` of the document, read without starting the app."""
    with tempfile.TemporaryDirectory(prefix="ostiary-fuzz-") as workdir:
        app = create_app(settings_for(Path(workdir)))
        document = app.openapi()
    return [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if f"{method.upper()} {path}" not in EXCLUDED
    ]


def fuzz(schema: Any, label: str, *, headers: dict[str, str]) -> Callable[[], None]:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run


@pytest.mark.parametrize("label", operations())
def test_no_5xx_and_documented_answers_match_their_schema(
    schema: Any, access_token: str, label: str
) -> None:
    fuzz(schema, label, headers={})()
    fuzz(schema, label, headers={"Authorization": f"Bearer {access_token}"})()
