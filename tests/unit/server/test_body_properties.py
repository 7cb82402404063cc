"""Properties of the strict JSON body reader: any bytes are an object or an
``invalid_request`` (never a ``RecursionError`` or anything else), the depth scan agrees with
the real nesting, and the scan stays linear on adversarial input."""

from __future__ import annotations

import json
import time
from typing import Any, Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidRequest
from ostiary.server.body import MAX_DEPTH, nesting_depth, parse_object

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


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@PROPS
@given(st.binary(max_size=300))
def test_any_bytes_are_an_object_or_invalid_request(raw: bytes) -> None:
    try:
        assert isinstance(parse_object(raw), dict)
    except InvalidRequest:
        pass


@PROPS
@given(st.text(alphabet='[]{}",:\\ a1', max_size=300))
def test_bracket_soup_is_an_object_or_invalid_request(raw: str) -> None:
    try:
        parse_object(raw.encode())
    except InvalidRequest:
        pass


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


def test_the_scan_is_linear_on_unclosed_escaped_quotes() -> None:
    """A regex that looked for a closing quote from every quote would be quadratic here."""
    raw = b'"\\"' * 40_000
    started = time.perf_counter()
    nesting_depth(raw, stop_after=MAX_DEPTH)
    assert time.perf_counter() - started < 0.5
