"""Attack: ``crit`` (RFC 7515 §4.1.11) marks header extensions the recipient must understand or
refuse; a verifier that ignores ``crit`` accepts tokens whose meaning it does not know (for
instance RFC 7797 ``b64: false``, where the payload is not what was signed). Ostiary understands
no extension, so every ``crit`` and every ``b64`` is refused: ``UnsupportedCritical``."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.errors import UnsupportedCritical
from ostiary.jose import JWK, JWKSet
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims, at_header, sign_parts


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"crit": ["exp"], "exp": 1_700_000_300}, id="crit-exp"),
        pytest.param(
            {"crit": ["http://example.com/ext"], "http://example.com/ext": True}, id="uri"
        ),
        pytest.param({"crit": ["b64"], "b64": False}, id="crit-b64-false"),
        pytest.param({"crit": ["b64"], "b64": True}, id="crit-b64-true"),
        pytest.param({"b64": False}, id="b64-without-crit"),
        pytest.param({"crit": []}, id="empty-crit"),
        pytest.param({"crit": ["missing"]}, id="crit-names-absent-member"),
        pytest.param({"crit": ["alg"]}, id="crit-names-registered-member"),
        pytest.param({"crit": "exp", "exp": 1}, id="crit-not-a-list"),
        pytest.param({"crit": None}, id="crit-null"),
    ],
)
def test_crit_is_refused(extra: dict[str, Any], es256_key: JWK, es256_keys: JWKSet) -> None:
    token = sign_parts(at_header(es256_key, **extra), access_claims(), es256_key)
    assert_refused(token, es256_keys, UnsupportedCritical)


def test_control_unknown_non_critical_member_is_ignored(es256_key: JWK, es256_keys: JWKSet) -> None:
    # RFC 7515 §4: header members that are not understood and not critical are ignored.
    token = sign_parts(at_header(es256_key, ext="x"), access_claims(), es256_key)
    assert assert_accepted(token, es256_keys)["sub"] == "user-42"
