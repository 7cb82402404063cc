"""Compact JWS: signing, strict parsing, key selection and signature checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ostiary.errors import (
    AlgorithmMismatch,
    BadSignature,
    DisallowedAlgorithm,
    ForbiddenHeader,
    InvalidKey,
    InvalidToken,
    MalformedToken,
    TokenTooLarge,
    UnknownKey,
    UnsupportedCritical,
)
from ostiary.jose import (
    JWK,
    JWKSet,
    parse_compact,
    sign_compact,
    verify_access_token,
    verify_compact,
)
from tests.unit.jose._helpers import (
    access_claims,
    at_header,
    b64url,
    b64url_json,
    clock,
    rules,
    sign_parts,
    sign_raw,
    unb64url,
)

ALL_ALGS = ("ES256", "ES384", "EdDSA", "RS256", "PS256", "HS256", "HS384", "HS512")


def _raises(error: type[InvalidToken], token: str | bytes, keys: JWKSet) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        verify_compact(token, keys)
    assert type(info.value) is error
    assert info.value.reason == error.reason
    return info.value


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_sign_and_verify_round_trip(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    token = sign_compact(access_claims(), key, typ="at+jwt")
    verifier = JWKSet([key.public()])
    header, claims = verify_compact(token, verifier)
    assert header == {"alg": alg, "kid": key.kid, "typ": "at+jwt"}
    assert claims == access_claims()
    assert verify_access_token(token, verifier, rules(), clock=clock()) == access_claims()


def test_sign_compact_header(es256_key: JWK) -> None:
    token = sign_compact({"a": 1}, es256_key)
    header = json.loads(unb64url(token.split(".")[0]))
    assert header == {"alg": "ES256", "kid": es256_key.kid, "typ": "JWT"}
    token = sign_compact({"a": 1}, es256_key, typ="at+jwt", headers={"cty": "x", "kid": "k2"})
    assert json.loads(unb64url(token.split(".")[0])) == {
        "alg": "ES256",
        "kid": "k2",
        "typ": "at+jwt",
        "cty": "x",
    }


@pytest.mark.parametrize("name", ["alg", "jku", "x5u", "x5c", "jwk", "crit", "b64"])
def test_sign_compact_refuses_to_set_key_choosing_headers(name: str, es256_key: JWK) -> None:
    with pytest.raises(ValueError, match="never set by the caller"):
        sign_compact({}, es256_key, headers={name: "x"})


def test_sign_compact_keeps_non_ascii_claims(es256_key: JWK) -> None:
    token = sign_compact({"name": "Zoë 🦉"}, es256_key)
    assert token.isascii()
    assert verify_compact(token, JWKSet([es256_key]))[1] == {"name": "Zoë 🦉"}


def test_signing_needs_a_private_key(es256_key: JWK) -> None:
    with pytest.raises(InvalidKey):
        sign_compact({}, es256_key.public())


def test_parse_compact_exposes_the_parts(es256_key: JWK) -> None:
    token = sign_compact(access_claims(), es256_key, typ="at+jwt")
    h, p, s = token.split(".")
    parsed = parse_compact(token)
    assert parsed.alg == "ES256"
    assert parsed.kid == es256_key.kid
    assert parsed.header["typ"] == "at+jwt"
    assert parsed.signing_input == f"{h}.{p}".encode()
    assert parsed.payload == unb64url(p)
    assert parsed.signature == unb64url(s)
    assert parse_compact(token.encode()) == parsed
    assert parse_compact(bytearray(token.encode())) == parsed  # type: ignore[arg-type]
    assert parsed.verify(es256_key.public()) == access_claims()


def test_parse_compact_touches_no_key(es256_key: JWK) -> None:
    # Parsing succeeds on a token whose signature is garbage: that is verify's job.
    h, p, _ = sign_compact({}, es256_key).split(".")
    assert parse_compact(f"{h}.{p}.{b64url(b'junk')}").signature == b"junk"


def test_verify_with_the_wrong_key_of_the_right_alg(es256_key: JWK) -> None:
    other = JWK.generate("ES256")
    token = sign_compact({}, other, headers={"kid": es256_key.kid})
    _raises(BadSignature, token, JWKSet([es256_key.public()]))


def test_algorithm_is_fixed_by_the_key(keys_by_alg: dict[str, JWK]) -> None:
    # Same RSA key material bound to PS256 on the verifier: an RS256 token does not pass.
    rs = keys_by_alg["RS256"]
    ps_view = JWK.from_dict({**rs.public_dict(), "alg": "PS256", "kid": rs.kid})
    token = sign_compact({}, rs)
    _raises(AlgorithmMismatch, token, JWKSet([ps_view]))
    assert verify_compact(token, JWKSet([rs.public()]))[1] == {}


@pytest.mark.parametrize(("signer", "verifier"), [("HS256", "HS512"), ("ES256", "ES384")])
def test_related_algorithm_of_another_size(
    signer: str, verifier: str, keys_by_alg: dict[str, JWK]
) -> None:
    target = keys_by_alg[verifier]
    token = sign_compact({}, keys_by_alg[signer], headers={"kid": target.kid})
    _raises(AlgorithmMismatch, token, JWKSet([target]))


def test_kid_selects_the_key(keys_by_alg: dict[str, JWK]) -> None:
    es, ed = keys_by_alg["ES256"], keys_by_alg["EdDSA"]
    keys = JWKSet([es.public(), ed.public()])
    assert verify_compact(sign_compact({"k": "ed"}, ed), keys)[1] == {"k": "ed"}
    assert verify_compact(sign_compact({"k": "es"}, es), keys)[1] == {"k": "es"}
    no_kid = sign_parts(at_header(es, kid=...), {}, es)
    _raises(UnknownKey, no_kid, keys)
    assert verify_compact(no_kid, JWKSet([es.public()]))[1] == {}
    _raises(UnknownKey, sign_compact({}, es, headers={"kid": "nope"}), keys)


@pytest.mark.parametrize(
    ("header", "error"),
    [
        pytest.param("[]", MalformedToken, id="array"),
        pytest.param('"ES256"', MalformedToken, id="string"),
        pytest.param("null", MalformedToken, id="null"),
        pytest.param("{", MalformedToken, id="broken"),
        pytest.param("{}", DisallowedAlgorithm, id="empty-object"),
        pytest.param('{"alg":"ES256","jwk":{}}', ForbiddenHeader, id="jwk"),
        pytest.param('{"alg":"ES256","jku":"x","crit":["y"]}', ForbiddenHeader, id="jku+crit"),
        pytest.param('{"alg":"ES256","crit":["y"],"y":1}', UnsupportedCritical, id="crit"),
        pytest.param('{"alg":"ES256","b64":true}', UnsupportedCritical, id="b64"),
        pytest.param('{"alg":"ES256","kid":5}', MalformedToken, id="kid-int"),
        pytest.param('{"alg":"ES256","kid":null}', MalformedToken, id="kid-null"),
    ],
)
def test_header_checks(header: str, error: type[InvalidToken], es256_key: JWK) -> None:
    token = sign_raw(header, json.dumps(access_claims()), es256_key)
    with pytest.raises(InvalidToken) as info:
        parse_compact(token)
    assert type(info.value) is error


@pytest.mark.parametrize(
    "payload",
    ["[]", '"claims"', "1", "null", "{", '{"a":NaN}', b"\xff\xfe"],
    ids=repr,
)
def test_payload_must_be_a_json_object(payload: str | bytes, es256_key: JWK) -> None:
    token = sign_raw(json.dumps(at_header(es256_key)), payload, es256_key)
    _raises(MalformedToken, token, JWKSet([es256_key]))


def test_empty_payload_is_malformed(es256_key: JWK) -> None:
    token = sign_raw(json.dumps(at_header(es256_key)), b"", es256_key)
    with pytest.raises(MalformedToken, match="well-formed"):
        parse_compact(token)


def test_payload_is_not_parsed_before_the_signature_is_checked(es256_key: JWK) -> None:
    # Invalid JSON with a bad signature: BadSignature, the payload was never looked at.
    header = b64url_json(at_header(es256_key))
    token = f"{header}.{b64url(b'{{{')}.{b64url(bytes(64))}"
    _raises(BadSignature, token, JWKSet([es256_key]))


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_bad_base64_in_any_segment(segment: int, es256_key: JWK) -> None:
    parts = sign_compact({}, es256_key).split(".")
    parts[segment] += "="
    with pytest.raises(MalformedToken, match="well-formed") as info:
        parse_compact(".".join(parts))
    assert info.value.detail is not None and "base64url" in info.value.detail


def test_non_ascii_text_is_malformed(es256_key: JWK) -> None:
    token = sign_compact({}, es256_key)
    with pytest.raises(MalformedToken) as info:
        parse_compact(token[:10] + "é" + token[10:])
    assert info.value.detail == "non-ASCII characters"


@pytest.mark.parametrize("value", [None, 1, 1.5, ["a.b.c"], memoryview(b"a.b.c")], ids=repr)
def test_non_text_token(value: Any) -> None:
    with pytest.raises(MalformedToken) as info:
        parse_compact(value)
    assert type(info.value) is MalformedToken


def test_size_limit_is_checked_on_str_and_bytes(es256_key: JWK) -> None:
    token = sign_compact({}, es256_key)
    assert parse_compact(token, max_size=len(token)).alg == "ES256"
    for value in (token, token.encode()):
        with pytest.raises(TokenTooLarge):
            parse_compact(value, max_size=len(token) - 1)


# --- headers remembered by their bytes -----------------------------------------------------


def test_a_remembered_header_still_lets_no_damaged_payload_or_signature_through(
    es256_key: JWK,
) -> None:
    keys = JWKSet([es256_key.public()])
    token = sign_compact(access_claims(), es256_key, typ="at+jwt")
    verify_compact(token, keys)  # the header is now remembered
    header, payload, signature = token.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    _raises(BadSignature, f"{header}.{payload}.{flipped}", keys)
    _raises(MalformedToken, f"{header}.{payload}.{signature}x", keys)
    _raises(MalformedToken, f"{header}.{payload}.", keys)
    other = b64url_json({**access_claims(), "sub": "mallory"})
    _raises(BadSignature, f"{header}.{other}.{signature}", keys)


def test_a_header_accepted_in_a_dpop_proof_is_still_refused_in_a_token(es256_key: JWK) -> None:
    jwk = {k: v for k, v in es256_key.public_dict().items() if k not in ("kid", "alg", "use")}
    header = {"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}
    token = sign_parts(header, access_claims(), es256_key)
    assert parse_compact(token, embedded_key=True).header["jwk"] == jwk
    with pytest.raises(ForbiddenHeader):
        parse_compact(token)
    assert parse_compact(token, embedded_key=True).header == header


def test_the_header_handed_out_is_a_copy(es256_key: JWK) -> None:
    token = sign_compact(access_claims(), es256_key, typ="at+jwt")
    parse_compact(token).header["alg"] = "none"
    assert parse_compact(token).header["alg"] == "ES256"
    verify_compact(token, JWKSet([es256_key.public()]))
