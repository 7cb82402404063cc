"""Properties of the form and Basic-credential parsers (RFC 6749 §2.3.1, Appendix B): any
input either parses into what Python's own ``urllib.parse`` reads in it, or is an
``invalid_request`` / ``invalid_client`` whose reason is true of it; and what a client encodes
correctly reads back as it was."""

from __future__ import annotations

import base64
from typing import Final
from urllib.parse import parse_qsl, quote_plus, unquote_plus, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidClient, InvalidRequest
from ostiary.grants import OAuthParams
from ostiary.server.forms import MAX_FIELDS, REPEATABLE, _basic, _pairs, parse_form

PROPS: Final = settings(max_examples=150, derandomize=True, database=None, deadline=None)
#: Text without NUL, which the reader refuses (tests/security/test_lone_surrogates_and_controls.py).
TEXT: Final = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
NAMES: Final = st.text(TEXT, min_size=1, max_size=12).filter(lambda n: n not in REPEATABLE)
VALUES: Final = st.text(TEXT, max_size=40)
MALFORMED: Final = "The form body is malformed or has too many fields."
HOLDS_NUL: Final = "The form body holds a NUL."
#: Forms of a few fields, names that repeat, NULs, bytes that are no UTF-8, fields with no
#: "=": the fuzzing meets every way of reading a form or refusing it.
FORM_BYTES: Final = st.lists(
    st.tuples(
        st.sampled_from([b"a", b"b", b"resource"] * 4 + [b"a%00", b"", b"%ff"]),
        st.sampled_from([b"="] * 8 + [b""]),
        st.sampled_from([b"1", b"", b"%00", b"%41", b"%ff", b"+x", b"=", b"\xff"]),
    ).map(b"".join),
    max_size=6,
).map(b"&".join)


def python_pairs(body: bytes, *, errors: str = "replace") -> list[tuple[str, str]] | None:
    """The name-value pairs Python's lenient parser reads in ``body``; None if it is no text
    (or, with ``errors="strict"``, if a percent-encoded byte sequence is no UTF-8)."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors=errors)
    except UnicodeDecodeError:
        return None


def is_true_of(body: bytes, refusal: str) -> bool:
    """Whether the reason the parser gave for refusing ``body`` holds of it."""
    pairs = python_pairs(body)
    if refusal == MALFORMED:  # no UTF-8, too many fields, or a field (even empty) without "="
        fields = body.split(b"&") if body else []
        return (
            python_pairs(body, errors="strict") is None
            or len(fields) > MAX_FIELDS
            or any(b"=" not in field for field in fields)
        )
    if pairs is None:
        return False
    if refusal == HOLDS_NUL:
        return any("\x00" in name + value for name, value in pairs)
    names = [name for name, _ in pairs if name not in REPEATABLE]
    repeated = {name for name in names if names.count(name) > 1}
    return any(refusal == f"The {name[:40]} parameter is repeated." for name in repeated)


def assert_read_or_refused_for_a_true_reason(body: bytes) -> None:
    try:
        form = parse_form(body)
    except InvalidRequest as refused:
        assert is_true_of(body, refused.description), refused.description
        return
    pairs = python_pairs(body)
    assert pairs is not None
    assert form == OAuthParams(
        {n: v for n, v in pairs if n not in REPEATABLE},
        tuple(v for n, v in pairs if n in REPEATABLE),
    )
    assert len(form.params) == len([n for n, _ in pairs if n not in REPEATABLE])  # none lost
    assert not any("\x00" in name + value for name, value in pairs)


@PROPS
@given(st.binary(max_size=300))
def test_any_bytes_are_the_form_python_reads_or_refused_for_a_true_reason(body: bytes) -> None:
    assert_read_or_refused_for_a_true_reason(body)


@PROPS
@given(FORM_BYTES)
def test_form_soup_is_the_form_python_reads_or_refused_for_a_true_reason(body: bytes) -> None:
    assert_read_or_refused_for_a_true_reason(body)


@PROPS
@given(st.dictionaries(NAMES, VALUES, max_size=MAX_FIELDS - 1), st.lists(VALUES, max_size=3))
def test_an_encoded_form_reads_back(params: dict[str, str], resources: list[str]) -> None:
    pairs = [*params.items(), *(("resource", r) for r in resources)]
    form = parse_form(urlencode(pairs).encode())
    assert dict(form.params) == params
    assert form.resources == tuple(resources)


def strict_python_pairs(text: str) -> list[tuple[str, str]] | type[ValueError]:
    """What the reader read with ``urllib.parse`` before it read forms itself; ValueError
    where that raised."""
    try:
        return parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except ValueError:
        return ValueError


def own_pairs(text: str) -> list[tuple[str, str]] | type[ValueError]:
    try:
        return _pairs(text)
    except ValueError:
        return ValueError


#: Text made of what a form's syntax is made of: separators, escapes (valid, truncated, or no
#: UTF-8), plus signs, NUL and a few characters from elsewhere.
FORM_TEXT: Final = st.lists(
    st.sampled_from(["&", "=", "+", "%", "%2", "%41", "%ff", "%C3%A9", "%00", "a", "é", " "]),
    max_size=30,
).map("".join)


@PROPS
@given(FORM_TEXT)
def test_the_fields_are_what_strict_parse_qsl_reads(text: str) -> None:
    assert own_pairs(text) == strict_python_pairs(text)


@PROPS
@given(FORM_BYTES)
def test_form_soup_fields_are_what_strict_parse_qsl_reads(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return
    assert own_pairs(text) == strict_python_pairs(text)


def test_the_field_cap_and_empty_fields_as_strict_parse_qsl() -> None:
    for text in ("", "&", "a=1&", "&a=1", "a", "=", "a==b", "a=1&" * (MAX_FIELDS - 1) + "b=2"):
        assert own_pairs(text) == strict_python_pairs(text), text
    too_many = "&".join(["a=1"] * (MAX_FIELDS + 1))
    assert own_pairs(too_many) is ValueError
    assert strict_python_pairs(too_many) is ValueError


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
    except InvalidRequest as exc:
        assert exc.description == MALFORMED
        return
    raise AssertionError("the field cap was not enforced")


@PROPS
@given(st.text(max_size=200))
def test_any_authorization_header_is_basic_or_invalid_client(header: str) -> None:
    try:
        client_id, _ = _basic(header)
    except InvalidClient as exc:
        assert exc.error == "invalid_client"
        return
    assert header.strip().partition(" ")[0].lower() == "basic"
    assert client_id


@PROPS
@given(st.binary(max_size=120))
def test_any_basic_payload_is_its_credentials_or_invalid_client(payload: bytes) -> None:
    """Accepted, the id and secret are the payload's two halves, each form-decoded; refused,
    the payload really is no UTF-8 ``id:secret`` with an id."""
    header = "Basic " + base64.b64encode(payload).decode()
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        credentials = _basic(header)
    except InvalidClient as exc:
        assert exc.error == "invalid_client"
        assert text is None or not text.partition(":")[0] or ":" not in text
        return
    assert text is not None
    raw_id, _, raw_secret = text.partition(":")
    assert credentials == (unquote_plus(raw_id), unquote_plus(raw_secret))


@PROPS
@given(st.text(min_size=1, max_size=40), st.text(max_size=40), st.sampled_from(["Basic", "basic"]))
def test_encoded_basic_credentials_read_back(client_id: str, secret: str, scheme: str) -> None:
    joined = f"{quote_plus(client_id)}:{quote_plus(secret)}"
    header = f"{scheme} {base64.b64encode(joined.encode()).decode()}"
    assert _basic(header) == (client_id, secret)
