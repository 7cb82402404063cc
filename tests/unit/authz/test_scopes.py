"""Scope strings (RFC 6749 §3.3): parsing, formatting and matching, with property tests."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.authz.scopes import format_scope, missing, parse_scope

PROPS = settings(max_examples=200, deadline=None, database=None)
#: RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), written out independently.
ALLOWED = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"\\')
TOKENS = st.text(alphabet=ALLOWED, min_size=1, max_size=12)
SPACES = st.integers(1, 3).map(lambda n: " " * n)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", set()),
        (" ", set()),
        ("read", {"read"}),
        ("read write", {"read", "write"}),
        ("  read   write  read ", {"read", "write"}),
        ("openid profile email", {"openid", "profile", "email"}),
        (
            "urn:example:scope!#$%&'()*+,-./:;<=>?@[]^_`{|}~",
            {"urn:example:scope!#$%&'()*+,-./:;<=>?@[]^_`{|}~"},
        ),
    ],
)
def test_parse_examples(value: str, expected: set[str]) -> None:
    assert parse_scope(value) == frozenset(expected)


@pytest.mark.parametrize(
    "value",
    ['a"b', "a\\b", "read\twrite", "read\nwrite", "read\x00", "réad", "read\u00a0write", "\x7f"],
    ids=repr,
)
def test_parse_refuses_forbidden_characters(value: str) -> None:
    with pytest.raises(ValueError, match="scope tokens"):
        parse_scope(value)


def test_format_is_sorted_and_deduplicated() -> None:
    assert format_scope(["write", "read", "write"]) == "read write"
    assert format_scope([]) == ""


def test_missing_keeps_the_order_asked() -> None:
    assert missing(["c", "a", "b"], {"a"}) == ["c", "b"]
    assert missing([], {"a"}) == []
    assert missing(["a"], frozenset()) == ["a"]


@PROPS
@given(st.text(max_size=80))
def test_parse_any_text_gives_valid_tokens_or_value_error(value: str) -> None:
    try:
        scopes = parse_scope(value)
    except ValueError:
        # Refused only if some space-separated piece has a character outside the grammar.
        assert any(ch not in ALLOWED for ch in value.replace(" ", ""))
        return
    for token in scopes:
        assert token and all(ch in ALLOWED for ch in token)
    assert scopes == frozenset(t for t in value.split(" ") if t)


@PROPS
@given(st.lists(TOKENS, max_size=8), st.lists(SPACES, min_size=9, max_size=9), SPACES, SPACES)
def test_parse_any_spacing_of_valid_tokens(
    tokens: list[str], gaps: list[str], lead: str, trail: str
) -> None:
    value = lead + "".join(t + g for t, g in zip(tokens, gaps, strict=False)) + trail
    assert parse_scope(value) == frozenset(tokens)


@PROPS
@given(st.lists(TOKENS, max_size=8))
def test_format_then_parse_round_trips(tokens: list[str]) -> None:
    text = format_scope(tokens)
    assert parse_scope(text) == frozenset(tokens)
    assert format_scope(parse_scope(text)) == text
    assert "  " not in text and text == text.strip()


@PROPS
@given(st.lists(TOKENS, max_size=4), st.text(min_size=1, max_size=3), st.lists(TOKENS, max_size=4))
def test_one_forbidden_character_spoils_the_whole_string(
    before: list[str], bad: str, after: list[str]
) -> None:
    forbidden = [ch for ch in bad if ch not in ALLOWED and ch != " "]
    if not forbidden:
        return
    value = " ".join([*before, "x" + "".join(forbidden), *after])
    with pytest.raises(ValueError):
        parse_scope(value)


def test_grammar_matches_the_rfc() -> None:
    # The test's own alphabet against the RFC's ABNF, so the properties above mean something.
    rfc = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]")
    assert all(rfc.fullmatch(ch) for ch in ALLOWED)
    assert len(ALLOWED) == 0x7E - 0x21 + 1 - 2
