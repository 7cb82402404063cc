"""Strict JSON for headers and claims: no duplicate members, no NaN/Infinity, bounded depth."""

from __future__ import annotations

import pytest

from ostiary.errors import DuplicateMember, MalformedToken
from ostiary.jose._json import MAX_DEPTH, _depth, strict_loads


def test_plain_object_from_str_and_bytes() -> None:
    text = '{"a":1,"b":[true,null,"x"],"c":{"d":1.5}}'
    expected = {"a": 1, "b": [True, None, "x"], "c": {"d": 1.5}}
    assert strict_loads(text) == expected
    assert strict_loads(text.encode()) == expected


def test_non_objects_parse_too() -> None:
    # The caller decides that a header or claims set must be an object.
    assert strict_loads("[1]") == [1]
    assert strict_loads('"x"') == "x"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('{"a":1,"a":1}', "a"),
        ('{"a":1,"b":2,"a":3}', "a"),
        ('{"x":{"b":1,"b":2}}', "b"),
        ('[{"c":1,"c":2}]', "c"),
        ('{"\\u0061":1,"a":2}', "a"),
        ('{"":1,"":2}', ""),
    ],
)
def test_duplicate_members_are_refused(text: str, name: str) -> None:
    with pytest.raises(DuplicateMember) as info:
        strict_loads(text)
    assert info.value.reason == "duplicate_member"
    assert info.value.detail == f"duplicate member {name!r}"


def test_same_name_in_different_objects_is_fine() -> None:
    assert strict_loads('{"a":{"a":{"a":1}}}') == {"a": {"a": {"a": 1}}}


@pytest.mark.parametrize(
    "text",
    [
        '{"exp":NaN}',
        '{"exp":Infinity}',
        '{"exp":-Infinity}',
        "",
        "{",
        '{"a":1,}',
        "{'a':1}",
        '{"a":01}',
        '{"a":1} x',
        "\ufeff{}",
        '{"a":"\x01"}',
        '{"a":' + "1" * 5000 + "}",  # beyond Python's int-string limit
    ],
)
def test_malformed_json(text: str) -> None:
    with pytest.raises(MalformedToken) as info:
        strict_loads(text)
    assert type(info.value) is MalformedToken
    assert info.value.reason == "malformed"


@pytest.mark.parametrize("data", [b"\xff\xfe{}", b'{"a":"\xc3"}', b"\xed\xa0\x80"])
def test_invalid_utf8(data: bytes) -> None:
    with pytest.raises(MalformedToken):
        strict_loads(data)


def _arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_depth_limit_boundary() -> None:
    assert MAX_DEPTH == 32
    assert _depth(strict_loads(_arrays(MAX_DEPTH))) == MAX_DEPTH
    with pytest.raises(MalformedToken) as info:
        strict_loads(_arrays(MAX_DEPTH + 1))
    assert info.value.detail == "JSON nested too deeply"


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_nesting_beyond_the_recursion_limit(depth: int) -> None:
    with pytest.raises(MalformedToken) as info:
        strict_loads(_arrays(depth))
    assert info.value.detail == "JSON nested too deeply"
    with pytest.raises(MalformedToken):
        strict_loads('{"a":' * depth + "1" + "}" * depth)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = '{"a":"' + "[{" * 100 + '"}'
    assert strict_loads(text) == {"a": "[{" * 100}


def test_wide_but_shallow_is_fine() -> None:
    text = "[" + ",".join(["[]"] * 500) + "]"
    assert len(strict_loads(text)) == 500


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ({}, 1), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[], [[[]]], []], 4)],
)
def test_depth_measure(value: object, depth: int) -> None:
    assert _depth(value) == depth


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "\\udc00x", "\\ud83d"])
def test_lone_surrogates_are_refused(escape: str) -> None:
    with pytest.raises(MalformedToken) as info:
        strict_loads('{"sub":"' + escape + '"}')
    assert info.value.reason == "malformed"
    assert "surrogate" in (info.value.detail or "")


def test_surrogate_pairs_are_one_character() -> None:
    assert strict_loads('{"sub":"\\ud83d\\ude00"}') == {"sub": "\U0001f600"}
