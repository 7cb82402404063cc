"""Properties of redirect-URI registration checks: any string gives a reason or None, never an
exception; what passes is absolute, exact and safe."""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.authn.client_settings import redirect_uri_problem

PROPS: Final = settings(max_examples=200, derandomize=True, database=None, deadline=None)
URI_PARTS: Final = st.text(alphabet="abc:/?#[]@!*%.-_~19 \t\x00é", max_size=60)
PREFIXES: Final = st.sampled_from(
    ["", "https://", "http://", "http://localhost", "http://[::1]", "com.example.app:/", "ftp://"]
)


@PROPS
@given(st.text(max_size=300))
def test_any_string_gives_a_reason_or_none(uri: str) -> None:
    assert redirect_uri_problem(uri) is None or isinstance(redirect_uri_problem(uri), str)


@PROPS
@given(PREFIXES, URI_PARTS)
def test_uri_like_strings_give_a_reason_or_none(prefix: str, rest: str) -> None:
    uri = prefix + rest
    problem = redirect_uri_problem(uri)
    if problem is None:
        parts = urlsplit(uri)
        assert parts.scheme and not parts.fragment and "#" not in uri and "*" not in uri
        assert parts.username is None and not any(c.isspace() for c in uri)
