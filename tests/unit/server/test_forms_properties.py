"""Properties of the form and Basic-credential parsers (RFC 6749 §2.3.1, Appendix B): any
input either parses or is an ``invalid_request`` / ``invalid_client``, and what a client
encodes correctly reads back as it was."""

from __future__ import annotations

import base64
from typing import Final
from urllib.parse import quote_plus, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidClient, InvalidRequest
from ostiary.server.forms import MAX_FIELDS, REPEATABLE, _basic, parse_form

PROPS: Final = settings(max_examples=150, derandomize=True, database=None, deadline=None)
#: Text without NUL, which the reader refuses (tests/security/test_lone_surrogates_and_controls.py).
TEXT: Final = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
NAMES: Final = st.text(TEXT, min_size=1, max_size=12).filter(lambda n: n not in REPEATABLE)
VALUES: Final = st.text(TEXT, max_size=40)


@PROPS
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_invalid_request(body: bytes) -> None:
    try:
        parse_form(body)
    except InvalidRequest:
        pass


@PROPS
@given(st.dictionaries(NAMES, VALUES, max_size=MAX_FIELDS - 1), st.lists(VALUES, max_size=3))
def test_an_encoded_form_reads_back(params: dict[str, str], resources: list[str]) -> None:
    pairs = [*params.items(), *(("resource", r) for r in resources)]
    form = parse_form(urlencode(pairs).encode())
    assert dict(form.params) == params
    assert form.resources == tuple(resources)


@PROPS
@given(NAMES, VALUES, VALUES)
def test_a_repeated_parameter_is_invalid_request(name: str, first: str, second: str) -> None:
    body = urlencode([(name, first), (name, second)]).encode()
    try:
        parse_form(body)
    except InvalidRequest as exc:
        assert exc.description == f"The {name[:40]} parameter is repeated."
    else:
        raise AssertionError("a repeated parameter was accepted")


@PROPS
@given(st.integers(min_value=MAX_FIELDS + 1, max_value=3 * MAX_FIELDS))
def test_more_fields_than_the_cap_are_invalid_request(count: int) -> None:
    body = "&".join(f"f{i}=1" for i in range(count)).encode()
    try:
        parse_form(body)
    except InvalidRequest:
        return
    raise AssertionError("the field cap was not enforced")


@PROPS
@given(st.text(max_size=200))
def test_any_authorization_header_is_basic_or_invalid_client(header: str) -> None:
    try:
        client_id, _ = _basic(header)
    except InvalidClient:
        return
    assert client_id


@PROPS
@given(st.binary(max_size=120))
def test_any_basic_payload_is_credentials_or_invalid_client(payload: bytes) -> None:
    header = "Basic " + base64.b64encode(payload).decode()
    try:
        _basic(header)
    except InvalidClient:
        pass


@PROPS
@given(st.text(min_size=1, max_size=40), st.text(max_size=40), st.sampled_from(["Basic", "basic"]))
def test_encoded_basic_credentials_read_back(client_id: str, secret: str, scheme: str) -> None:
    joined = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    header = f"{scheme} {base64.b64encode(joined.encode()).decode()}"
    assert _basic(header) == (client_id, secret)
