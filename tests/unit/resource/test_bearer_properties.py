"""Properties of the Bearer extractor (RFC 6750 §2.1): any headers and query string give a
token, None, or an ``invalid_request``; a well-formed credential reads back unchanged."""

from __future__ import annotations

import string
from typing import Final

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidRequest
from ostiary.resource.bearer import extract_bearer

PROPS: Final = settings(max_examples=200, derandomize=True, database=None, deadline=None)
B64TOKEN: Final = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~+/", min_size=1, max_size=80
).map(lambda body: body + "=" * (len(body) % 3))


@PROPS
@given(st.lists(st.text(max_size=100), max_size=3), st.binary(max_size=100) | st.text(max_size=100))
def test_anything_is_a_token_none_or_invalid_request(
    headers: list[str], query: bytes | str
) -> None:
    try:
        token = extract_bearer(headers, query)
    except InvalidRequest:
        return
    assert token is None or (token and token == token.strip())


@PROPS
@given(B64TOKEN, st.sampled_from(["Bearer", "bearer", "BEARER"]))
def test_a_well_formed_credential_reads_back(token: str, scheme: str) -> None:
    assert extract_bearer([f"{scheme} {token}"]) == token


@PROPS
@given(B64TOKEN)
def test_a_token_in_the_query_is_refused(token: str) -> None:
    try:
        extract_bearer([f"Bearer {token}"], f"access_token={token}")
    except InvalidRequest:
        return
    raise AssertionError("a token in the query string was accepted")
