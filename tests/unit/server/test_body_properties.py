"""Properties of the strict JSON body reader: any bytes are the object Python's own ``json``
reads, within the limits, or an ``invalid_request`` whose reason is true of them (never a
``RecursionError`` or anything else); the depth scan agrees with the real nesting, and reads an
adversarial body once."""

from __future__ import annotations

import json
import math
from typing import Any, Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidRequest
from ostiary.server.body import _TOKEN, MAX_DEPTH, nesting_depth, parse_object

PROPS: Final = settings(max_examples=150, derandomize=True, database=None, deadline=None)
#: Text without NUL, which the reader refuses (tests/security/test_lone_surrogates_and_controls.py).
TEXT: Final = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
SCALARS: Final = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(TEXT)
)
DOCUMENTS: Final = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT, max_size=5), inner, max_size=3)
    ),
    max_leaves=30,
)


NOT_JSON: Final = "The request body is not valid JSON."
TOO_DEEP: Final = f"The JSON body is nested deeper than {MAX_DEPTH} levels."
REPEATED: Final = "The JSON body repeats a member name."
NOT_OBJECT: Final = "The request body must be a JSON object."
NOT_TEXT: Final = "The JSON body holds a NUL or a lone surrogate, which are not text."


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


def texts_of(value: Any) -> list[str]:
    """Every string in a document, member names included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [text for item in value for text in texts_of(item)]
    if isinstance(value, dict):
        return [*value, *(text for item in value.values() for text in texts_of(item))]
    return []


def is_text(text: str) -> bool:
    """No NUL and no lone surrogate (which Python's json reads from ``\\ud800``)."""
    return not any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def floats_of(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [number for item in items for number in floats_of(item)]


def python_reading(raw: bytes) -> tuple[Any, bool] | None:
    """What Python's lenient ``json`` reads in ``raw`` and whether an object of it repeats a
    member name; None when it reads nothing."""
    repeats = False

    def members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeats
        repeats = repeats or len({name for name, _ in pairs}) != len(pairs)
        return dict(pairs)

    try:
        return json.loads(raw, object_pairs_hook=members), repeats
    except (ValueError, RecursionError):
        return None


def is_true_of(raw: bytes, refusal: str) -> bool:
    """Whether the reason the reader gave for refusing ``raw`` holds, as Python's ``json``
    sees ``raw``."""
    reading = python_reading(raw)
    if refusal == TOO_DEEP:  # nesting needs brackets; when Python reads it, it is that deep
        brackets = raw.count(b"[") + raw.count(b"{")
        return brackets > MAX_DEPTH and (reading is None or depth_of(reading[0]) > MAX_DEPTH)
    if refusal == NOT_JSON:  # NaN and Infinity are Python's, not JSON
        return reading is None or not all(math.isfinite(f) for f in floats_of(reading[0]))
    if reading is None:
        return False
    value, repeats = reading
    if refusal == REPEATED:
        return repeats
    if refusal == NOT_OBJECT:
        return not isinstance(value, dict)
    if refusal == NOT_TEXT:
        return any(
            "\x00" in t or any(0xD800 <= ord(c) <= 0xDFFF for c in t) for t in texts_of(value)
        )
    return False


def assert_read_or_refused_for_a_true_reason(raw: bytes) -> None:
    try:
        value = parse_object(raw)
    except InvalidRequest as refused:
        assert is_true_of(raw, refused.description), refused.description
        return
    reading = python_reading(raw)
    assert reading is not None, "read what Python's json cannot"
    assert (value, reading[1]) == (reading[0], False)
    assert isinstance(value, dict)
    assert depth_of(value) <= MAX_DEPTH


@PROPS
@given(st.binary(max_size=300))
def test_any_bytes_are_the_object_json_reads_or_refused_for_a_true_reason(raw: bytes) -> None:
    assert_read_or_refused_for_a_true_reason(raw)


@PROPS
@given(st.text(alphabet='[]{}",:\\ a1', max_size=300))
def test_bracket_soup_is_the_object_json_reads_or_refused_for_a_true_reason(raw: str) -> None:
    assert_read_or_refused_for_a_true_reason(raw.encode())


@PROPS
@given(DOCUMENTS)
def test_any_document_is_read_or_refused_for_a_true_reason(value: Any) -> None:
    """Documents, not noise: the cases where the reader accepts, or refuses for depth, a
    repeated member, NUL or a scalar at the top, show up here."""
    assert_read_or_refused_for_a_true_reason(json.dumps(value).encode())


@PROPS
@given(DOCUMENTS)
def test_the_scan_measures_the_real_depth(value: Any) -> None:
    raw = json.dumps(value).encode()
    assert nesting_depth(raw, stop_after=1000) == depth_of(value)


@PROPS
@given(st.dictionaries(st.text(TEXT, max_size=8), DOCUMENTS, max_size=4))
def test_an_object_within_the_limit_reads_back(value: dict[str, Any]) -> None:
    raw = json.dumps(value).encode()
    if depth_of(value) <= MAX_DEPTH:
        assert parse_object(raw) == value


@PROPS
@given(st.integers(min_value=MAX_DEPTH + 1, max_value=100_000))
def test_anything_deeper_than_the_limit_is_refused(depth: int) -> None:
    raw = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"
    try:
        parse_object(raw)
    except InvalidRequest as exc:
        assert "nested deeper" in exc.description
    else:
        raise AssertionError("a deep document was parsed")


def test_the_scan_reads_unclosed_escaped_quotes_once() -> None:
    """The unclosed string is one token to the end, found once: a pattern that wanted its
    closing quote would look for it again from every later quote (quadratic work) and find
    no token at all."""
    raw = b'"' + b'\\"' * 40_000
    assert [token.span() for token in _TOKEN.finditer(raw)] == [(0, len(raw))]
    assert nesting_depth(raw, stop_after=MAX_DEPTH) == 0
