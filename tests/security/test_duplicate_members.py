"""Attack: duplicate member names (RFC 8725 §3.6; RFC 7515 §5.2, RFC 7519 §4). Parsers that
keep the first and parsers that keep the last duplicate disagree, so a token can mean one thing
to a gateway and another to the service behind it (``"alg":"ES256",...,"alg":"none"`` or
``"sub":"alice",...,"sub":"admin"``). Each token is otherwise correct and correctly signed with
the trusted key, so the duplicate is the only problem: ``DuplicateMember``."""

from __future__ import annotations

import json

import pytest

from ostiary.errors import DuplicateMember
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, sign_raw


def _claims_json(extra: str = "") -> str:
    """The valid claims as JSON text with ``extra`` spliced in before the closing brace."""
    return json.dumps(access_claims(), separators=(",", ":"))[:-1] + extra + "}"


def _header_json(key: JWK, extra: str = "") -> str:
    return f'{{"alg":"{key.alg}","kid":"{key.kid}","typ":"at+jwt"{extra}}}'


def test_control_hand_built_token_verifies(es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_raw(_header_json(es256_key), _claims_json(), es256_key)
    assert assert_accepted(token, es256_keys)["sub"] == "user-42"


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(',"alg":"none"', id="alg-then-none"),
        pytest.param(',"alg":"HS256"', id="alg-then-hs256"),
        pytest.param(',"alg":"ES256"', id="alg-twice-same-value"),
        pytest.param(',"\\u0061lg":"none"', id="alg-escaped-spelling"),
        pytest.param(',"kid":"other"', id="kid"),
        pytest.param(',"typ":"JWT"', id="typ"),
    ],
)
def test_duplicate_header_member(extra: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_raw(_header_json(es256_key, extra), _claims_json(), es256_key)
    assert_refused(token, es256_keys, DuplicateMember)


def test_duplicate_alg_with_none_first(es256_key: JWK, es256_keys: JWKSet) -> None:
    header = f'{{"alg":"none","kid":"{es256_key.kid}","typ":"at+jwt","alg":"ES256"}}'
    assert_refused(sign_raw(header, _claims_json(), es256_key), es256_keys, DuplicateMember)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(',"sub":"admin"', id="sub"),
        pytest.param(',"iss":"https://evil.example"', id="iss"),
        pytest.param(',"aud":"https://api.example.com"', id="aud-same-value"),
        pytest.param(',"exp":99999999999', id="exp"),
        pytest.param(',"scope":"admin"', id="scope"),
        pytest.param(',"s\\u0063ope":"admin"', id="scope-escaped-spelling"),
        pytest.param(',"cnf":{"jkt":"a","jkt":"b"}', id="nested-object"),
        pytest.param(',"act":[{"sub":"a","sub":"b"}]', id="object-in-array"),
    ],
)
def test_duplicate_claim(extra: str, es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_raw(_header_json(es256_key), _claims_json(extra), es256_key)
    assert_refused(token, es256_keys, DuplicateMember)
