"""Attack: a JWS in JSON serialization (RFC 7515 §7.2, general and flattened) where a compact
JWT is expected. Libraries that accept both have let an attacker add unprotected headers or
extra signatures, or made parsers disagree about which payload was verified (the "polyglot"
tokens of CVE-2022-39227 in python-jwt). Only the compact form is a JWT: built from a
genuinely signed token, every JSON form is ``MalformedToken``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ostiary.errors import MalformedToken
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, b64url, b64url_json


@pytest.fixture(scope="module")
def token(es256_key: JWK) -> str:
    return sign_compact(access_claims(), es256_key, typ="at+jwt")


def _forms(token: str, kid: str) -> dict[str, Any]:
    protected, payload, signature = token.split(".")
    flattened = {"payload": payload, "protected": protected, "signature": signature}
    return {
        "flattened": flattened,
        "flattened-with-unprotected-header": {**flattened, "header": {"kid": kid}},
        "general": {
            "payload": payload,
            "signatures": [{"protected": protected, "signature": signature}],
        },
        "general-two-signatures": {
            "payload": payload,
            "signatures": [
                {"protected": protected, "signature": signature},
                {"protected": b64url_json({"alg": "none"}), "signature": ""},
            ],
        },
        "polyglot": {
            "payload": b64url_json(access_claims(sub="admin")),
            "protected": protected,
            "signature": signature,
            "compact": token,
        },
    }


FORMS = [
    "flattened",
    "flattened-with-unprotected-header",
    "general",
    "general-two-signatures",
    "polyglot",
]


def test_control_compact_form_verifies(token: str, es256_keys: JWKSet) -> None:
    assert_accepted(token, es256_keys)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("encoding", ["str", "bytes", "base64url"])
def test_json_serialization_is_refused(
    form: str, encoding: str, token: str, es256_key: JWK, es256_keys: JWKSet
) -> None:
    text = json.dumps(_forms(token, es256_key.kid)[form])
    encodings: dict[str, str | bytes] = {
        "str": text,
        "bytes": text.encode(),
        "base64url": b64url(text.encode()),
    }
    sent = encodings[encoding]
    assert_refused(sent, es256_keys, MalformedToken)
