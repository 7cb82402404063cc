"""Attack: a token with the wrong number of segments: two (signature stripped with its dot),
four and six (extra segments that a lenient splitter drops or that smuggle a second token),
five (JWE) and one. A compact JWS has exactly three: ``MalformedToken``."""

from __future__ import annotations

import pytest

from ostiary.errors import MalformedToken
from ostiary.jose import JWK, JWKSet, sign_compact
from tests.security._attacks import assert_accepted, assert_refused
from tests.unit.jose._helpers import access_claims


@pytest.fixture(scope="module")
def token(es256_key: JWK) -> str:
    return sign_compact(access_claims(), es256_key, typ="at+jwt")


def _variants(token: str) -> dict[str, str]:
    h, p, s = token.split(".")
    return {
        "1-header-only": h,
        "1-no-dots": h + p + s,
        "2-header-payload": f"{h}.{p}",
        "2-payload-signature": f"{p}.{s}",
        "4-trailing-dot": f"{token}.",
        "4-leading-dot": f".{token}",
        "4-extra-segment": f"{token}.{s}",
        "4-doubled-dot": f"{h}..{p}.{s}",
        "5-jwe-shaped": f"{h}.{p}.{s}.{p}.{s}",
        "6-two-tokens": f"{token}.{token}",
        "6-empty": ".....",
        "3-empty": "..",
        "empty": "",
    }


VARIANTS = list(_variants("a.b.c"))


def test_control_three_segments_verify(token: str, es256_keys: JWKSet) -> None:
    assert_accepted(token, es256_keys)


@pytest.mark.parametrize("variant", VARIANTS)
def test_wrong_segment_count(variant: str, token: str, es256_keys: JWKSet) -> None:
    malformed = _variants(token)[variant]
    if variant[0].isdigit():
        assert malformed.count(".") + 1 == int(variant[0])
    assert_refused(malformed, es256_keys, MalformedToken)


@pytest.mark.parametrize(
    "wrap",
    ["Bearer {}", " {}", "{} ", "{}\n", "\t{}", '"{}"', "{}\x00"],
    ids=repr,
)
def test_decorated_token_is_malformed(wrap: str, token: str, es256_keys: JWKSet) -> None:
    assert_refused(wrap.format(token), es256_keys, MalformedToken)


@pytest.mark.parametrize("value", [None, 42, ["a", "b", "c"], {"a": 1}], ids=repr)
def test_non_text_token_is_malformed(value: object, es256_keys: JWKSet) -> None:
    assert_refused(value, es256_keys, MalformedToken)  # type: ignore[arg-type]
