"""DPoP proofs (RFC 9449): making one, and each stateless check of §4.3 in
:func:`ostiary.jose.dpop.verify_proof`, refused with the reason that names it.

Proofs are built here byte by byte where a test needs one thing wrong in an otherwise correct,
correctly signed proof. Keys are made with ``cryptography`` and their RFC 7638 thumbprints
computed from the raw public numbers with ``hashlib`` and ``json``, not by the module under test.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from ostiary.errors import (
    DuplicateMember,
    ForbiddenHeader,
    InvalidDPoPProof,
    InvalidKey,
    UnsupportedCritical,
)
from ostiary.jose import JWK, PRIVATE_MEMBERS, parse_compact
from ostiary.jose.dpop import (
    DEFAULT_DPOP_ALGORITHMS,
    DEFAULT_MAX_PROOF_SIZE,
    DEFAULT_PROOF_LEEWAY,
    DEFAULT_PROOF_MAX_AGE,
    DEFAULT_PROOF_RULES,
    DPOP_TYP,
    MAX_JTI_LENGTH,
    DPoPProof,
    ProofRules,
    _proof_key,
    access_token_hash,
    make_proof,
    normalize_htu,
    verify_proof,
)
from tests.unit.jose._helpers import NOW, b64url, b64url_json, sign_parts, sign_raw, unb64url

METHOD: Final = "POST"
URL: Final = "https://server.example.com/token"
JTI: Final = "-BwC3ESc6acc2lTc"
ACCESS_TOKEN: Final = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"

# RFC 9449 §4.1 Figure 2 (the proof of §4.2's example key, made at iat 1562262616) and the
# thumbprint §6.1 Figure 9 publishes for that key.
RFC9449_PROOF: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0"
    "VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10"
    "NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoi"
    "UE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-"
    "GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
RFC9449_IAT: Final = 1562262616
RFC9449_JKT: Final = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
#: RFC 9449 §7.1: the ``ath`` of the example access token above.
RFC9449_ATH: Final = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
# RFC 7638 §3.1: the example RSA key and its thumbprint.
RFC7638_KEY: Final = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGj"
        "QR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"
        "bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT: Final = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
_GENERATORS: Final[dict[str, Callable[[], PrivateKey]]] = {
    "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ES384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "EdDSA": ed25519.Ed25519PrivateKey.generate,
    "Ed25519": ed25519.Ed25519PrivateKey.generate,
    "RS256": lambda: rsa.generate_private_key(65537, 2048),
    "PS256": lambda: rsa.generate_private_key(65537, 2048),
    "RS384": lambda: rsa.generate_private_key(65537, 2048),
}
_CURVES: Final = {"secp256r1": "P-256", "secp384r1": "P-384"}


def _octets(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or max(1, (value.bit_length() + 7) // 8), "big"))


def expected_thumbprint(private: PrivateKey) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    public = private.public_key()
    members: dict[str, str]
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        size = (public.curve.key_size + 7) // 8
        members = {
            "crv": _CURVES[public.curve.name],
            "kty": "EC",
            "x": _octets(numbers.x, size),
            "y": _octets(numbers.y, size),
        }
    elif isinstance(public, rsa.RSAPublicKey):
        rsa_numbers = public.public_numbers()
        members = {"e": _octets(rsa_numbers.e), "kty": "RSA", "n": _octets(rsa_numbers.n)}
    else:
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


@pytest.fixture(scope="module")
def private_keys() -> dict[str, PrivateKey]:
    return {alg: generate() for alg, generate in _GENERATORS.items()}


@pytest.fixture(scope="module")
def keys(private_keys: dict[str, PrivateKey]) -> dict[str, JWK]:
    """The same keys as JWKs, imported from PKCS#8 PEM."""
    out = {}
    for alg, private in private_keys.items():
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out[alg] = JWK.from_pem(pem, alg=alg)
    return out


@pytest.fixture(scope="module")
def key(keys: dict[str, JWK]) -> JWK:
    return keys["ES256"]


def public_jwk(key: JWK) -> dict[str, Any]:
    return {k: v for k, v in key.public_dict().items() if k not in ("kid", "alg", "use")}


def proof_header(key: JWK, **overrides: Any) -> dict[str, Any]:
    """A correct proof header for ``key``; an override of ``...`` removes the member."""
    header: dict[str, Any] = {"typ": DPOP_TYP, "alg": key.alg, "jwk": public_jwk(key)}
    return _overridden(header, overrides)


def proof_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"jti": JTI, "htm": METHOD, "htu": URL, "iat": NOW}
    return _overridden(claims, overrides)


def _overridden(values: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    for name, value in overrides.items():
        if value is ...:
            values.pop(name, None)
        else:
            values[name] = value
    return values


def build(
    key: JWK, header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None
) -> str:
    return sign_parts(
        proof_header(key) if header is None else header,
        proof_claims() if claims is None else claims,
        key,
    )


def verify(
    proof: str,
    *,
    method: str = METHOD,
    url: str = URL,
    now: float = NOW,
    rules: ProofRules = DEFAULT_PROOF_RULES,
    access_token: str | None = None,
) -> DPoPProof:
    return verify_proof(
        proof, method=method, url=url, now=now, rules=rules, access_token=access_token
    )


def refused(proof: Any, reason: str, **kwargs: Any) -> InvalidDPoPProof:
    with pytest.raises(InvalidDPoPProof) as info:
        verify(proof, **kwargs)
    assert info.value.reason == reason, info.value.detail
    assert info.value.error == "invalid_dpop_proof"
    return info.value


# --- good proofs ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEFAULT_DPOP_ALGORITHMS)
def test_a_proof_made_by_make_proof_passes_with_the_rfc_7638_thumbprint(
    alg: str, keys: dict[str, JWK], private_keys: dict[str, PrivateKey]
) -> None:
    proof = make_proof(keys[alg], method=METHOD, url=URL, jti=JTI, iat=NOW)
    checked = verify(proof)
    assert checked == DPoPProof(
        jkt=expected_thumbprint(private_keys[alg]),
        jti=JTI,
        iat=NOW,
        htm=METHOD,
        htu=URL,
        nonce=None,
        alg=alg,
    )
    assert checked.jkt == keys[alg].thumbprint()


@pytest.mark.parametrize("alg", DEFAULT_DPOP_ALGORITHMS)
def test_a_hand_built_proof_passes(alg: str, keys: dict[str, JWK]) -> None:
    assert verify(build(keys[alg])).alg == alg


def test_make_proof_writes_the_header_and_claims_of_rfc_9449_section_4_2(key: JWK) -> None:
    proof = make_proof(
        key,
        method="GET",
        url="https://api.example.com/r?q=1#frag",
        jti="j-1",
        iat=NOW,
        access_token=ACCESS_TOKEN,
        nonce="n-1",
    )
    header_b64, claims_b64, _ = proof.split(".")
    header = json.loads(unb64url(header_b64))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}
    assert not PRIVATE_MEMBERS & header["jwk"].keys()
    assert {"kid", "alg", "use"}.isdisjoint(header["jwk"])
    assert json.loads(unb64url(claims_b64)) == {
        "jti": "j-1",
        "htm": "GET",
        "htu": "https://api.example.com/r",
        "iat": NOW,
        "ath": RFC9449_ATH,
        "nonce": "n-1",
    }


def test_the_rfc_9449_example_proof_passes_with_its_published_thumbprint() -> None:
    checked = verify(RFC9449_PROOF, now=RFC9449_IAT)
    assert (checked.jkt, checked.jti, checked.iat) == (RFC9449_JKT, JTI, RFC9449_IAT)
    refused(RFC9449_PROOF, "wrong_method", now=RFC9449_IAT, method="GET")


def test_the_thumbprint_of_the_rfc_7638_example_key() -> None:
    key, jkt = _proof_key(dict(RFC7638_KEY), "RS256")
    assert jkt == RFC7638_THUMBPRINT
    assert not key.is_private


def test_access_token_hash_is_the_rfc_9449_example() -> None:
    assert access_token_hash(ACCESS_TOKEN) == RFC9449_ATH
    expected = b64url(hashlib.sha256(ACCESS_TOKEN.encode("ascii")).digest())
    assert access_token_hash(ACCESS_TOKEN) == expected


@pytest.mark.parametrize("alg", ["HS256", "ES256-public"])
def test_make_proof_needs_a_private_asymmetric_key(alg: str, key: JWK) -> None:
    signer = JWK.generate("HS256") if alg == "HS256" else key.public()
    with pytest.raises(InvalidKey):
        make_proof(signer, method=METHOD, url=URL, jti=JTI, iat=NOW)


def test_repr_of_a_checked_proof_leaves_out_the_jti(key: JWK) -> None:
    checked = verify(build(key))
    assert JTI not in repr(checked)
    assert checked.jkt in repr(checked)


# --- form: §4.3 step 2 -------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 4, 5])
def test_not_three_segments(count: int, key: JWK) -> None:
    segments = build(key).split(".")
    refused(".".join((segments * 2)[:count]), "malformed")


@pytest.mark.parametrize("proof", ["", None, 42, b"abc"])
def test_no_proof_or_not_text(proof: Any) -> None:
    refused(proof, "missing")


def test_characters_outside_base64url(key: JWK) -> None:
    refused(build(key) + "=", "malformed")
    refused(" " + build(key), "malformed")
    refused(build(key).replace(".", "é", 1), "malformed")


def test_oversized_is_refused_before_decoding(key: JWK) -> None:
    # Not even base64url: only the size can be the reason.
    refused("!" * (DEFAULT_MAX_PROOF_SIZE + 1), "too_large")
    refused("!" * DEFAULT_MAX_PROOF_SIZE, "malformed")
    proof = build(key)
    assert verify(proof, rules=ProofRules(max_size=len(proof))).jti == JTI
    refused(proof, "too_large", rules=ProofRules(max_size=len(proof) - 1))


def test_an_rsa_4096_proof_fits_the_default_cap() -> None:
    big = JWK.generate("PS256", rsa_bits=4096)
    proof = make_proof(big, method=METHOD, url=URL, jti=JTI, iat=NOW, access_token="t" * 64)
    assert len(proof) < DEFAULT_MAX_PROOF_SIZE
    assert verify(proof).alg == "PS256"


@pytest.mark.parametrize("where", ["header", "payload", "jwk"])
def test_duplicate_json_members(where: str, key: JWK) -> None:
    jwk_json = json.dumps(public_jwk(key), separators=(",", ":"))
    header = f'{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk_json}}}'
    claims = json.dumps(proof_claims(), separators=(",", ":"))
    if where == "header":
        header = header[:-1] + ',"typ":"dpop+jwt"}'
    elif where == "payload":
        claims = claims[:-1] + f',"htu":"{URL}"}}'
    else:
        header = header.replace('"kty":"EC"', '"kty":"EC","kty":"EC"')
    error = refused(sign_raw(header, claims, key), DuplicateMember.reason)
    assert error.reason == "duplicate_member"


def test_a_payload_that_is_not_an_object(key: JWK) -> None:
    refused(sign_raw(json.dumps(proof_header(key)), "[1]", key), "malformed")


# --- header: §4.3 steps 4, 5 and 7 --------------------------------------------------------------


@pytest.mark.parametrize(
    "typ", [..., None, "JWT", "at+jwt", "DPOP+JWT", "application/dpop+jwt", "dpop+jwt ", 1]
)
def test_typ_missing_or_other(typ: Any, key: JWK) -> None:
    refused(build(key, proof_header(key, typ=typ)), "wrong_type")


def test_alg_none_is_refused(key: JWK) -> None:
    for alg in ("none", "None", "NONE"):
        proof = f"{b64url_json(proof_header(key, alg=alg))}.{b64url_json(proof_claims())}."
        refused(proof, "disallowed_algorithm")
        refused(proof + b64url(b"x"), "disallowed_algorithm")


def test_hs256_is_refused_even_with_a_valid_mac(key: JWK) -> None:
    secret = JWK.generate("HS256")
    header = proof_header(key, alg="HS256")
    refused(sign_parts(header, proof_claims(), secret), "disallowed_algorithm")
    # ...and with the MAC keyed by the jwk's own text, the algorithm-confusion classic.
    header["jwk"] = {"kty": "oct", "k": b64url(b"k" * 32)}
    refused(sign_parts(header, proof_claims(), secret), "disallowed_algorithm")


@pytest.mark.parametrize("alg", ["ES512", "RS1", "EdDSA "])
def test_an_unknown_algorithm(alg: str, key: JWK) -> None:
    refused(build(key, proof_header(key, alg=alg)), "disallowed_algorithm")


def test_an_algorithm_off_the_rules_list(keys: dict[str, JWK]) -> None:
    refused(build(keys["RS384"]), "disallowed_algorithm")  # asymmetric, not in the defaults
    only_es256 = ProofRules(algorithms=("ES256",))
    assert verify(build(keys["ES256"]), rules=only_es256).alg == "ES256"
    for alg in ("EdDSA", "PS256", "ES384"):
        refused(build(keys[alg]), "disallowed_algorithm", rules=only_es256)
    assert verify(build(keys["RS384"]), rules=ProofRules(algorithms=("RS384",))).alg == "RS384"


@pytest.mark.parametrize("jwk", [..., None, "eyJrdHkiOiJFQyJ9", [], 1])
def test_missing_jwk(jwk: Any, key: JWK) -> None:
    refused(build(key, proof_header(key, jwk=jwk)), "missing_key")


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_a_jwk_with_its_private_key(alg: str, keys: dict[str, JWK]) -> None:
    private = {k: v for k, v in keys[alg].private_dict().items() if k not in ("kid", "use")}
    refused(build(keys[alg], proof_header(keys[alg], jwk=private)), "private_key")


@pytest.mark.parametrize("member", sorted(PRIVATE_MEMBERS))
def test_a_jwk_with_any_private_member(member: str, key: JWK) -> None:
    jwk = {**public_jwk(key), member: b64url(b"\x01" * 32)}
    refused(build(key, proof_header(key, jwk=jwk)), "private_key")


def test_a_p384_key_under_es256(keys: dict[str, JWK]) -> None:
    p384 = keys["ES384"]
    header = proof_header(p384, alg="ES256")
    refused(sign_parts(header, proof_claims(), p384), "invalid_key")


@pytest.mark.parametrize(("jwk_alg", "alg"), [("ES256", "RS256"), ("EdDSA", "ES256")])
def test_a_key_of_another_type(jwk_alg: str, alg: str, keys: dict[str, JWK]) -> None:
    header = proof_header(keys[jwk_alg], alg=alg)
    refused(sign_parts(header, proof_claims(), keys[alg]), "invalid_key")


def test_an_rsa_key_under_2048_bits() -> None:
    weak = rsa.generate_private_key(65537, 1024)
    numbers = weak.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": _octets(numbers.n), "e": _octets(numbers.e)}
    signing_input = f"{b64url_json(proof_header_for(jwk, 'RS256'))}.{b64url_json(proof_claims())}"
    signature = weak.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    refused(f"{signing_input}.{b64url(signature)}", "invalid_key")


def proof_header_for(jwk: dict[str, Any], alg: str) -> dict[str, Any]:
    return {"typ": DPOP_TYP, "alg": alg, "jwk": jwk}


def test_a_jwk_declaring_another_alg(keys: dict[str, JWK]) -> None:
    key = keys["RS256"]
    refused(
        build(key, proof_header(key, jwk={**public_jwk(key), "alg": "PS256"})), "algorithm_mismatch"
    )
    es = keys["ES256"]
    refused(
        build(es, proof_header(es, jwk={**public_jwk(es), "alg": "ES384"})), "algorithm_mismatch"
    )


def test_a_jwk_with_its_own_alg_kid_and_use_passes(key: JWK) -> None:
    jwk = {**public_jwk(key), "alg": "ES256", "kid": "k-1", "use": "sig"}
    assert verify(build(key, proof_header(key, jwk=jwk))).jkt == key.thumbprint()


@pytest.mark.parametrize(
    "member",
    [
        {"jku": "https://attacker.example/jwks"},
        {"x5u": "https://attacker.example/cert"},
        {"x5c": [b64url(b"0\x82 not DER")]},
    ],
)
def test_jku_x5u_x5c_headers(member: dict[str, Any], key: JWK) -> None:
    refused(build(key, {**proof_header(key), **member}), "forbidden_header")


@pytest.mark.parametrize("member", [{"crit": ["exp"]}, {"crit": []}, {"b64": False}])
def test_crit_and_b64(member: dict[str, Any], key: JWK) -> None:
    refused(build(key, {**proof_header(key), **member}), "unsupported_crit")


# --- signature: §4.3 step 6 ------------------------------------------------------------------


def test_a_tampered_payload(key: JWK) -> None:
    header_b64, _, signature = build(key).split(".")
    forged = b64url_json(proof_claims(htu="https://server.example.com/other"))
    refused(f"{header_b64}.{forged}.{signature}", "bad_signature")


def test_a_signature_from_another_key(keys: dict[str, JWK]) -> None:
    header = proof_header(keys["ES256"])
    other = JWK.generate("ES256")
    refused(sign_parts(header, proof_claims(), other), "bad_signature")
    rs = keys["RS256"]
    refused(sign_parts(proof_header(rs), proof_claims(), keys["PS256"]), "bad_signature")


def test_a_stripped_or_truncated_signature(key: JWK) -> None:
    proof = build(key)
    refused(proof[: proof.rindex(".") + 1], "malformed")
    head, _, signature = proof.rpartition(".")
    raw = unb64url(signature)
    for altered in (raw[:-1], raw + bytes(1), raw[: len(raw) // 2]):
        refused(f"{head}.{b64url(altered)}", "bad_signature")


# --- claims: §4.3 step 3 ---------------------------------------------------------------------


@pytest.mark.parametrize("jti", [..., None, "", 1, ["j"], "j" * (MAX_JTI_LENGTH + 1)])
def test_missing_blank_too_long_or_not_a_string_jti(jti: Any, key: JWK) -> None:
    refused(build(key, claims=proof_claims(jti=jti)), "invalid_claim")


def test_the_longest_jti_passes(key: JWK) -> None:
    jti = "j" * MAX_JTI_LENGTH
    assert verify(build(key, claims=proof_claims(jti=jti))).jti == jti


@pytest.mark.parametrize("claim", ["htm", "htu"])
@pytest.mark.parametrize("value", [..., None, 1, ["POST"], {"m": "POST"}])
def test_missing_htm_or_htu(claim: str, value: Any, key: JWK) -> None:
    refused(build(key, claims=proof_claims(**{claim: value})), "invalid_claim")


@pytest.mark.parametrize(
    "iat", [..., None, float(NOW), NOW + 0.5, True, False, str(NOW), [NOW], {"t": NOW}]
)
def test_missing_or_non_integer_iat(iat: Any, key: JWK) -> None:
    refused(build(key, claims=proof_claims(iat=iat)), "invalid_claim")


def test_unknown_claims_are_ignored(key: JWK) -> None:
    assert verify(build(key, claims=proof_claims(extra={"a": [1]}))).jti == JTI


# --- htm and htu: §4.3 steps 8 and 9 -------------------------------------------------------


@pytest.mark.parametrize("htm", ["post", "Post", "GET", "POST ", ""])
def test_htm_mismatch_is_case_sensitive(htm: str, key: JWK) -> None:
    refused(build(key, claims=proof_claims(htm=htm)), "wrong_method")


def test_htm_other_than_post(key: JWK) -> None:
    proof = build(key, claims=proof_claims(htm="DELETE"))
    assert verify(proof, method="DELETE").htm == "DELETE"
    refused(proof, "wrong_method", method="delete")


@pytest.mark.parametrize(
    "htu",
    [
        "https://server.example.com/token2",
        "https://server.example.com/Token",
        "https://server.example.com/token/",
        "https://server.example.com/",
        "https://server.example.org/token",
        "https://evil.server.example.com/token",
        "http://server.example.com/token",
        "https://server.example.com:8443/token",
        "https://server.example.com:80/token",
        "https://server.example.com./token",
        "https://server.example.com/tok%65n2",
        "https://server.example.com/token%20",
    ],
)
def test_htu_mismatch(htu: str, key: JWK) -> None:
    refused(build(key, claims=proof_claims(htu=htu)), "wrong_uri")


@pytest.mark.parametrize(
    "htu",
    [
        "server.example.com/token",
        "/token",
        "ftp://server.example.com/token",
        "https:///token",
        "https://user@server.example.com/token",
        "https://user:pw@server.example.com/token",
        "https://server.example.com:99999/token",
        "https://server.example.com:x/token",
        "https://[::1/token",
        "",
    ],
)
def test_htu_that_is_not_an_http_uri(htu: str, key: JWK) -> None:
    refused(build(key, claims=proof_claims(htu=htu)), "wrong_uri")


def test_a_request_url_that_is_not_an_http_uri(key: JWK) -> None:
    refused(build(key), "wrong_uri", url="/token")


@pytest.mark.parametrize(
    ("htu", "url"),
    [
        ("HTTPS://SERVER.EXAMPLE.COM/token", URL),
        ("https://Server.Example.Com/token", URL),
        ("https://server.example.com:443/token", URL),
        (URL, "https://server.example.com:443/token"),
        ("http://server.example.com:80/token", "http://server.example.com/token"),
        ("https://server.example.com:/token", URL),
        (URL, "https://server.example.com/token?grant_type=x&y=%7e"),
        (URL, "https://server.example.com/token#frag"),
        ("https://server.example.com/token?a=1", "https://server.example.com/token?b=2"),
        ("https://server.example.com/token#x", URL),
        ("https://server.example.com/%7etoken", "https://server.example.com/~token"),
        ("https://server.example.com/%7Etoken", "https://server.example.com/%7etoken"),
        ("https://server.example.com/%74oken", URL),
        ("https://server.example.com/a%2fb", "https://server.example.com/a%2Fb"),
        ("https://server.example.com", "https://server.example.com/"),
        ("https://server.example.com?q", "https://server.example.com/"),
        ("https://[2001:DB8::1]/token", "https://[2001:db8::1]:443/token"),
        ("https://127.0.0.1:8443/token", "https://127.0.0.1:8443/token?x"),
    ],
)
def test_htu_that_matches_after_normalization(htu: str, url: str, key: JWK) -> None:
    assert verify(build(key, claims=proof_claims(htu=htu)), url=url).htu == htu


def test_percent_encoded_reserved_characters_stay_distinct(key: JWK) -> None:
    proof = build(key, claims=proof_claims(htu="https://server.example.com/a%2Fb"))
    refused(proof, "wrong_uri", url="https://server.example.com/a/b")


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("HTTPS://Server.Example.COM:443/A%7e%2f?q#f", "https://server.example.com/A~%2F"),
        ("http://h:80", "http://h/"),
        ("http://h:443/", "http://h:443/"),
        ("https://h:80/", "https://h:80/"),
        ("https://[::1]:8443/x", "https://[::1]:8443/x"),
    ],
)
def test_normalize_htu(uri: str, normal: str) -> None:
    assert normalize_htu(uri) == normal
    assert normalize_htu(normal) == normal


# --- iat: §4.3 step 11 --------------------------------------------------------------------------


def test_iat_window_edges_with_the_default_rules(key: JWK) -> None:
    oldest = NOW - DEFAULT_PROOF_MAX_AGE - DEFAULT_PROOF_LEEWAY
    assert verify(build(key, claims=proof_claims(iat=oldest))).iat == oldest
    refused(build(key, claims=proof_claims(iat=oldest - 1)), "expired")
    newest = NOW + DEFAULT_PROOF_LEEWAY
    assert verify(build(key, claims=proof_claims(iat=newest))).iat == newest
    refused(build(key, claims=proof_claims(iat=newest + 1)), "issued_in_future")
    assert DEFAULT_PROOF_RULES.remembered_for == DEFAULT_PROOF_MAX_AGE + DEFAULT_PROOF_LEEWAY


@pytest.mark.parametrize(("max_age", "leeway"), [(10, 0), (1, 0), (300, 30)])
def test_iat_window_edges_with_other_rules(max_age: int, leeway: int, key: JWK) -> None:
    rules = ProofRules(max_age=max_age, leeway=leeway)
    proof = build(key)
    assert verify(proof, now=NOW - leeway, rules=rules).iat == NOW
    refused(proof, "issued_in_future", now=NOW - leeway - 0.001, rules=rules)
    assert verify(proof, now=NOW + max_age + leeway, rules=rules).iat == NOW
    refused(proof, "expired", now=NOW + max_age + leeway + 0.001, rules=rules)


@pytest.mark.parametrize(
    "iat",
    [10**400, -(10**400), 2**63, -(2**63), 0, -1],
    ids=["1e400", "-1e400", "2**63", "-2**63", "0", "-1"],
)
def test_absurd_iat_is_refused_as_out_of_the_window(iat: int, key: JWK) -> None:
    reason = "issued_in_future" if iat > NOW else "expired"
    refused(build(key, claims=proof_claims(iat=iat)), reason)


# --- ath: §4.3 step 12 ---------------------------------------------------------------------------


def test_ath_is_checked_when_an_access_token_is_presented(key: JWK) -> None:
    with_ath = build(key, claims=proof_claims(ath=RFC9449_ATH))
    assert verify(with_ath, access_token=ACCESS_TOKEN).jti == JTI
    assert verify(with_ath).jti == JTI  # at the token endpoint there is no access token
    refused(with_ath, "wrong_ath", access_token=ACCESS_TOKEN + "x")
    refused(build(key), "wrong_ath", access_token=ACCESS_TOKEN)


@pytest.mark.parametrize(
    "ath",
    [None, "", 1, [RFC9449_ATH], RFC9449_ATH.lower(), RFC9449_ATH + "=", access_token_hash("")],
)
def test_a_wrong_ath(ath: Any, key: JWK) -> None:
    refused(build(key, claims=proof_claims(ath=ath)), "wrong_ath", access_token=ACCESS_TOKEN)


def test_an_access_token_that_is_not_ascii_is_a_wrong_ath(key: JWK) -> None:
    proof = build(key, claims=proof_claims(ath=RFC9449_ATH))
    refused(proof, "wrong_ath", access_token="tökén")
    refused(proof, "wrong_ath", access_token="\udc80")


def test_make_proof_hashes_the_access_token(key: JWK) -> None:
    proof = make_proof(key, method=METHOD, url=URL, jti=JTI, iat=NOW, access_token=ACCESS_TOKEN)
    assert verify(proof, access_token=ACCESS_TOKEN).jti == JTI
    refused(proof, "wrong_ath", access_token="another")


# --- nonce: §4.3 step 10 is the caller's, the claim's form is checked here --------------------


@pytest.mark.parametrize("nonce", ["n", "eyJ7S_zG.eyJH0-Z.HX4w-7v", "!#$[]~^`{|}", "a" * 200])
def test_a_nonce_of_nqchars_is_returned(nonce: str, key: JWK) -> None:
    assert verify(build(key, claims=proof_claims(nonce=nonce))).nonce == nonce


@pytest.mark.parametrize(
    "nonce", [None, "", " ", "a b", 'a"b', "a\\b", "\x7f", "é", "a\n", 1, ["n"], {"n": 1}, True]
)
def test_a_nonce_that_is_not_a_string_of_nqchars(nonce: Any, key: JWK) -> None:
    refused(build(key, claims=proof_claims(nonce=nonce)), "invalid_claim")


def test_no_nonce_is_none(key: JWK) -> None:
    assert verify(build(key)).nonce is None


# --- what is looked up again rather than recomputed -------------------------------------------


def test_a_proof_key_is_imported_once_whatever_the_order_of_its_members(key: JWK) -> None:
    jwk = public_jwk(key)
    first, jkt = _proof_key(dict(jwk), "ES256")
    again, jkt_again = _proof_key(dict(reversed(list(jwk.items()))), "ES256")
    assert again is first
    assert jkt_again == jkt == key.thumbprint()


def test_a_jwk_with_members_that_are_not_text_passes_each_time(key: JWK) -> None:
    jwk = {**public_jwk(key), "key_ops": ["verify"], "ext": True}
    for _ in range(2):
        assert verify(build(key, proof_header(key, jwk=jwk))).jkt == key.thumbprint()


def test_a_jwk_that_differs_only_by_the_type_of_a_member_is_another_key(key: JWK) -> None:
    verify(build(key))  # the genuine key, imported and remembered
    for x in (1, True, None, [public_jwk(key)["x"]]):
        for _ in range(2):  # a refusal is not remembered: refused again
            refused(build(key, proof_header(key, jwk={**public_jwk(key), "x": x})), "invalid_key")


def test_the_same_jwk_under_another_alg_is_not_taken_from_the_cache(keys: dict[str, JWK]) -> None:
    rsa_key = keys["RS256"]
    verify(build(rsa_key))
    header = proof_header(rsa_key, alg="PS256")
    proof = sign_parts(header, proof_claims(), keys["PS256"])
    refused(proof, "bad_signature")


def test_urls_are_checked_afresh_after_a_refusal(key: JWK) -> None:
    bad = build(key, claims=proof_claims(htu="ftp://server.example.com/token"))
    good = build(key, claims=proof_claims(htu="HTTPS://server.example.com:443/token"))
    for _ in range(2):
        refused(bad, "wrong_uri")
        assert verify(good).htu == "HTTPS://server.example.com:443/token"
        refused(good, "wrong_uri", url="https://server.example.com/other")
        refused(good, "wrong_uri", url="/token")


# --- rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithms": ("HS256",)},
        {"algorithms": ("ES256", "HS512")},
        {"algorithms": ("none",)},
        {"algorithms": ()},
        {"algorithms": "ES256"},
        {"max_age": 0},
        {"leeway": -1},
        {"max_size": 0},
    ],
)
def test_proof_rules_refuse_bad_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProofRules(**kwargs)


# --- parse_compact: the embedded key is DPoP's alone --------------------------------------------


def test_parse_compact_refuses_jwk_unless_asked(key: JWK) -> None:
    proof = build(key)
    with pytest.raises(ForbiddenHeader):
        parse_compact(proof)
    parsed = parse_compact(proof, embedded_key=True)
    assert parsed.header["jwk"] == public_jwk(key)


@pytest.mark.parametrize("member", ["jku", "x5u", "x5c"])
@pytest.mark.parametrize("with_jwk", [True, False])
def test_parse_compact_with_embedded_key_still_refuses_jku_x5u_x5c(
    member: str, with_jwk: bool, key: JWK
) -> None:
    header = proof_header(key) if with_jwk else proof_header(key, jwk=...)
    header[member] = "https://attacker.example/k" if member != "x5c" else ["MIIB"]
    proof = build(key, header)
    for embedded_key in (True, False):
        with pytest.raises(ForbiddenHeader):
            parse_compact(proof, embedded_key=embedded_key)


def test_parse_compact_with_embedded_key_still_refuses_crit(key: JWK) -> None:
    proof = build(key, {**proof_header(key), "crit": ["x"], "x": 1})
    with pytest.raises(UnsupportedCritical):
        parse_compact(proof, embedded_key=True)


# --- proof headers remembered by their bytes ------------------------------------------------


def test_a_remembered_proof_header_is_still_held_to_each_verifiers_algorithms(key: JWK) -> None:
    proof = build(key)
    verify(proof)  # the header's key is now remembered by the header's bytes
    refused(proof, "disallowed_algorithm", rules=ProofRules(algorithms=("EdDSA",)))
    assert verify(proof).alg == key.alg


def test_a_refused_proof_header_is_refused_every_time(key: JWK) -> None:
    for _ in range(2):
        refused(build(key, header=proof_header(key, typ="JWT")), "wrong_type")
        refused(build(key, header=proof_header(key, jwk=...)), "missing_key")


def test_a_remembered_proof_header_lets_no_other_signature_or_claims_through(key: JWK) -> None:
    proof = build(key)
    verify(proof)
    header, payload, signature = proof.split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    refused(f"{header}.{payload}.{flipped}", "bad_signature")
    other = b64url_json(proof_claims(jti="another-jti"))
    refused(f"{header}.{other}.{signature}", "bad_signature")
    refused(build(key, claims=proof_claims(htm="GET")), "wrong_method")
