"""Property tests of DPoP proofs (RFC 9449): a proof made by ``make_proof`` verifies for its
method and URL whatever they are; ``normalize_htu`` is idempotent; and whatever arrives as a
proof, ``verify_proof`` either accepts the untouched proof or raises
:class:`~ostiary.errors.InvalidDPoPProof`, never another exception."""

from __future__ import annotations

import string
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ostiary.errors import InvalidDPoPProof
from ostiary.jose import ALGORITHMS, JWK
from ostiary.jose.dpop import (
    DEFAULT_DPOP_ALGORITHMS,
    DPOP_TYP,
    DPoPProof,
    make_proof,
    normalize_htu,
    verify_proof,
)
from tests.unit.jose._helpers import NOW, b64url, b64url_json, sign_parts
from tests.unit.jose.test_properties import JSON_VALUES, MUTATION_CHARS

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
METHOD: Final = "POST"
URL: Final = "https://server.example.com/token"

# RFC 9110 §5.6.2: a method is a token.
TCHARS: Final = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]) | st.text(
    TCHARS, min_size=1, max_size=12
)
# RFC 3986 §2-3: the characters of a path segment, a query and a fragment, as sent.
UNRESERVED: Final = string.ascii_letters + string.digits + "-._~"
SUB_DELIMS: Final = "!$&'()*+,;="
PERCENT = st.tuples(st.sampled_from(string.hexdigits), st.sampled_from(string.hexdigits)).map(
    lambda pair: "%" + "".join(pair)
)
PCHAR = st.sampled_from(UNRESERVED + SUB_DELIMS + ":@") | PERCENT
SEGMENTS = st.lists(st.lists(PCHAR, max_size=8).map("".join), max_size=4)
QUERY = st.lists(PCHAR | st.sampled_from("/?"), max_size=12).map("".join)
HOSTS = (
    st.from_regex(
        r"[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?(\.[A-Za-z]{2,6}){0,2}", fullmatch=True
    )
    | st.ip_addresses(v=4).map(str)
    | st.ip_addresses(v=6).map(lambda ip: f"[{ip}]")
    | st.sampled_from(["localhost", "Server.Example.COM", "[::1]", "127.0.0.1"])
)
PORTS = st.none() | st.integers(1, 65535) | st.sampled_from([80, 443])


@st.composite
def urls(draw: st.DrawFn) -> str:
    """An absolute http(s) URL without user information, in any case and port spelling."""
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "HTTPS", "Https"]))
    host = draw(HOSTS)
    port = draw(PORTS)
    authority = host if port is None else f"{host}:{port}"
    segments = draw(SEGMENTS)
    path = "".join(f"/{segment}" for segment in segments)
    return f"{scheme}://{authority}{path}"


@pytest.fixture(scope="module")
def signers(keys_by_alg: dict[str, JWK]) -> list[JWK]:
    return [
        keys_by_alg[alg] if alg in keys_by_alg else JWK.generate(alg, rsa_bits=2048)
        for alg in DEFAULT_DPOP_ALGORITHMS
    ]


@pytest.fixture(scope="module")
def proofs(signers: list[JWK]) -> list[str]:
    return [
        make_proof(key, method=METHOD, url=URL, jti=f"jti-{key.alg}", iat=NOW, nonce="n")
        for key in signers
    ]


def _verify(proof: Any, **kwargs: Any) -> DPoPProof:
    options: dict[str, Any] = {"method": METHOD, "url": URL, "now": NOW, **kwargs}
    return verify_proof(proof, **options)


def _refused(proof: Any, **kwargs: Any) -> InvalidDPoPProof:
    """Any exception other than InvalidDPoPProof propagates and fails the test."""
    with pytest.raises(InvalidDPoPProof) as info:
        _verify(proof, **kwargs)
    assert info.value.reason
    return info.value


def test_control_untouched_proofs_verify(proofs: list[str]) -> None:
    for proof, alg in zip(proofs, DEFAULT_DPOP_ALGORITHMS, strict=True):
        assert _verify(proof).alg == alg


# --- what make_proof makes, verify_proof accepts ----------------------------------------------


@FUZZ
@given(
    data=st.data(), method=METHODS, url=urls(), query=st.none() | QUERY, fragment=st.none() | QUERY
)
def test_a_proof_verifies_for_its_method_and_url(
    data: st.DataObject,
    method: str,
    url: str,
    query: str | None,
    fragment: str | None,
    signers: list[JWK],
) -> None:
    key = data.draw(st.sampled_from(signers))
    proof = make_proof(key, method=method, url=url, jti="j", iat=NOW)
    assert _verify(proof, method=method, url=url).htm == method
    requested = url + ("" if query is None else f"?{query}")
    requested += "" if fragment is None else f"#{fragment}"
    assert _verify(proof, method=method, url=requested).jkt == key.thumbprint()
    # ...and made for the URL with its query and fragment, the same.
    again = make_proof(key, method=method, url=requested, jti="j", iat=NOW)
    assert _verify(again, method=method, url=url).jkt == key.thumbprint()


@FUZZ
@given(url=urls(), query=st.none() | QUERY)
def test_normalize_htu_is_idempotent(url: str, query: str | None) -> None:
    normal = normalize_htu(url if query is None else f"{url}?{query}")
    assert normalize_htu(normal) == normal
    assert normal == normal.strip() and "?" not in normal and "#" not in normal


@FUZZ
@given(text=st.text(max_size=80))
def test_normalize_htu_of_any_text_is_idempotent_or_a_value_error(text: str) -> None:
    for candidate in (text, f"https://{text}", f"http://h/{text}"):
        try:
            normal = normalize_htu(candidate)
        except ValueError:
            continue
        assert normalize_htu(normal) == normal


# --- whatever arrives, InvalidDPoPProof or the untouched proof ----------------------------------


@FUZZ
@given(data=st.data())
def test_flipped_character(data: st.DataObject, proofs: list[str]) -> None:
    proof = data.draw(st.sampled_from(proofs))
    index = data.draw(st.integers(0, len(proof) - 1))
    char = data.draw(MUTATION_CHARS)
    assume(char != proof[index])
    _refused(proof[:index] + char + proof[index + 1 :])


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text(text: str) -> None:
    _refused(text)


@FUZZ
@given(data=st.binary(max_size=5000))
def test_random_bytes(data: bytes) -> None:
    _refused(data)


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "typ", "jwk", "kid", "crit", "jku", "x5c", "b64", "x"]),
        JSON_VALUES | st.sampled_from([*ALGORITHMS, "none", DPOP_TYP]),
    ),
    claims=JSON_VALUES,
    signature=st.binary(max_size=300),
)
def test_random_headers_and_claims_with_random_signature(
    header: dict[str, Any], claims: Any, signature: bytes
) -> None:
    _refused(f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}")


# Members of a jwk, with the values that trip key importers: wrong types, wrong lengths,
# curves and key types of other algorithms.
JWK_VALUES = JSON_VALUES | st.sampled_from(
    [
        "EC",
        "RSA",
        "OKP",
        "oct",
        "P-256",
        "P-384",
        "P-521",
        "Ed25519",
        "Ed448",
        "X25519",
        "secp256k1",
        "AQAB",
        "AA",
        "",
        b64url(bytes(32)),
        b64url(b"\xff" * 32),
        b64url(bytes(1)),
    ]
)


@FUZZ
@given(
    data=st.data(),
    changes=st.dictionaries(
        st.sampled_from(["kty", "crv", "x", "y", "n", "e", "alg", "kid", "use", "key_ops", "d"]),
        JWK_VALUES | st.just(...),
        min_size=1,
        max_size=4,
    ),
)
def test_a_mangled_jwk(data: st.DataObject, changes: dict[str, Any], signers: list[JWK]) -> None:
    key = data.draw(st.sampled_from(signers))
    jwk = {k: v for k, v in key.public_dict().items() if k not in ("kid", "alg", "use")}
    for name, value in changes.items():
        if value is ...:
            jwk.pop(name, None)
        else:
            jwk[name] = value
    proof = sign_parts(
        {"typ": DPOP_TYP, "alg": key.alg, "jwk": jwk},
        {"jti": "j", "htm": METHOD, "htu": URL, "iat": NOW},
        key,
    )
    try:
        checked = _verify(proof)
    except InvalidDPoPProof:
        return
    # Accepted only when the members that make the key are untouched.
    assert checked.jkt == key.thumbprint()


CLAIM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "jti": st.text(max_size=140),
    "htm": st.sampled_from([METHOD, "post", "GET"]),
    "htu": st.sampled_from([URL, URL.upper(), URL + "?q", "https://server.example.com:443/token"]),
    "iat": st.integers(NOW - 100, NOW + 100) | st.sampled_from([10**400, -(10**400), 2**63]),
    "nonce": st.text(max_size=10),
    "ath": st.text(max_size=44),
}


@FUZZ
@given(
    data=st.data(),
    changes=st.dictionaries(
        st.sampled_from(sorted(CLAIM_VALUES)),
        st.sampled_from(["plausible", "removed", "any"]),
        max_size=3,
    ),
    access_token=st.none() | st.text(max_size=10),
)
def test_signed_arbitrary_claims(
    data: st.DataObject,
    changes: dict[str, str],
    access_token: str | None,
    signers: list[JWK],
) -> None:
    key = data.draw(st.sampled_from(signers))
    claims: dict[str, Any] = {"jti": "j", "htm": METHOD, "htu": URL, "iat": NOW}
    for name, change in changes.items():
        if change == "removed":
            claims.pop(name, None)
        else:
            claims[name] = data.draw(CLAIM_VALUES[name] if change == "plausible" else JSON_VALUES)
    header = {"typ": DPOP_TYP, "alg": key.alg, "jwk": key.public_dict()}
    try:
        checked = _verify(sign_parts(header, claims, key), access_token=access_token)
    except InvalidDPoPProof:
        return
    assert (checked.jti, checked.htm, checked.iat) == (claims["jti"], METHOD, claims["iat"])
    assert type(claims["iat"]) is int
    assert NOW - 65 <= claims["iat"] <= NOW + 5
    assert checked.nonce == claims.get("nonce")
