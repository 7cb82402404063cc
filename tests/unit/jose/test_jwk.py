"""Keys bound to one algorithm: generation, import checks, thumbprints, public forms."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519

from ostiary.errors import InvalidKey
from ostiary.jose import JWK, PRIVATE_MEMBERS, JWKSet
from ostiary.jose.algorithms import DEFAULT_RSA_BITS
from tests.unit.jose._helpers import b64url, unb64url

ASYMMETRIC = ("ES256", "ES384", "EdDSA", "RS256", "PS256")
SYMMETRIC = ("HS256", "HS384", "HS512")
KTY = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "RS256": "RSA", "PS256": "RSA"}
#: RFC 7638 §3.2: the required members that make up the thumbprint input, per key type.
THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
    "oct": ("k", "kty"),
}
Enc = serialization.Encoding
Pub = serialization.PublicFormat
Priv = serialization.PrivateFormat


def rfc7638_thumbprint(jwk: dict[str, Any]) -> str:
    """Computed here from the RFC, independently of joserfc."""
    members = {name: jwk[name] for name in THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def public_pem(private: Any) -> bytes:
    data: bytes = private.public_key().public_bytes(Enc.PEM, Pub.SubjectPublicKeyInfo)
    return data


def private_pem(private: Any) -> bytes:
    data: bytes = private.private_bytes(Enc.PEM, Priv.PKCS8, serialization.NoEncryption())
    return data


# --- generation --------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ASYMMETRIC + SYMMETRIC)
def test_generated_key_is_private_and_bound_to_its_alg(
    alg: str, keys_by_alg: dict[str, JWK]
) -> None:
    key = keys_by_alg[alg]
    assert key.alg == alg
    assert key.is_private
    assert key.kty == KTY.get(alg, "oct")
    assert key.is_symmetric is (alg in SYMMETRIC)


@pytest.mark.parametrize("alg", ASYMMETRIC + SYMMETRIC)
def test_kid_is_the_rfc7638_thumbprint(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    expected = rfc7638_thumbprint(key.private_dict())
    assert key.kid == expected
    assert key.thumbprint() == expected
    assert key.public().kid == expected


def test_rfc7638_example_thumbprint() -> None:
    # RFC 7638 §3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"
        "BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0"
        "_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWh"
        "AI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    jwk = JWK.from_dict({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256"})
    assert jwk.kid == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_two_generated_keys_differ(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    other = JWK.generate(alg, rsa_bits=2048)
    assert other.kid != keys_by_alg[alg].kid


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_generated_hmac_secret_has_the_hash_size(
    alg: str, size: int, keys_by_alg: dict[str, JWK]
) -> None:
    assert len(unb64url(keys_by_alg[alg].private_dict()["k"])) == size


@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_rsa_bits_are_honoured(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    assert len(unb64url(keys_by_alg[alg].public_dict()["n"])) * 8 == 2048


@pytest.mark.slow
def test_default_rsa_size_is_3072() -> None:
    # The one 3072-bit generation of the suite (about a second on a slow machine).
    assert DEFAULT_RSA_BITS == 3072
    key = JWK.generate("RS256")
    assert len(unb64url(key.public_dict()["n"])) * 8 == 3072


@pytest.mark.parametrize("bits", [512, 1024, 2047])
@pytest.mark.parametrize("alg", ["RS256", "PS256"])
def test_generating_rsa_under_2048_bits_is_refused(alg: str, bits: int) -> None:
    with pytest.raises(InvalidKey, match="at least 2048"):
        JWK.generate(alg, rsa_bits=bits)


@pytest.mark.parametrize("alg", ["none", "HS1", "RS1", "ES256K", "", "es256", "A256GCM"])
def test_generating_for_an_unknown_algorithm_is_refused(alg: str) -> None:
    with pytest.raises(InvalidKey, match="not allowed"):
        JWK.generate(alg)


# --- public forms -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_public_dict_holds_no_private_member(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    private = key.private_dict()
    assert "d" in private  # so that the check below means something
    public = key.public_dict()
    for member in ("d", "p", "q", "dp", "dq", "qi", "k", "oth"):
        assert member not in public
    assert PRIVATE_MEMBERS.isdisjoint(public)
    assert public["kid"] == key.kid
    assert public["kty"] == KTY[alg]
    assert public["alg"] == alg
    assert public["use"] == "sig"
    assert set(public) - {"kid", "alg", "use"} == set(THUMBPRINT_MEMBERS[KTY[alg]])


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_public_key_view(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    public = key.public()
    assert not public.is_private
    assert public.public() is public
    assert public == key
    assert public.public_dict() == key.public_dict()
    with pytest.raises(InvalidKey):
        public.sign(b"x")
    with pytest.raises(InvalidKey):
        public.private_dict()
    signature = key.sign(b"message")
    assert public.verify_signature(b"message", signature)
    assert not public.verify_signature(b"messagE", signature)
    assert not public.verify_signature(b"message", signature[:-1])
    assert not public.verify_signature(b"message", b"")


@pytest.mark.parametrize("alg", SYMMETRIC)
def test_symmetric_key_has_no_public_form(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    assert key.public() is key
    with pytest.raises(InvalidKey):
        key.public_dict()
    assert JWKSet([key]).public_document() == {"keys": []}


@pytest.mark.parametrize("alg", ASYMMETRIC + SYMMETRIC)
def test_repr_shows_no_key_material(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    text = repr(key)
    assert key.kid in text and "private" in text
    for name, value in key.private_dict().items():
        if name in PRIVATE_MEMBERS:
            assert value not in text


@pytest.mark.parametrize("alg", ASYMMETRIC + SYMMETRIC)
def test_private_dict_round_trip(alg: str, keys_by_alg: dict[str, JWK]) -> None:
    key = keys_by_alg[alg]
    again = JWK.from_dict(key.private_dict())
    assert again == key and again.is_private
    assert key.verify_signature(b"m", again.sign(b"m"))


# --- import checks ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_1024() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "RS512"])
def test_rsa_under_2048_bits_is_refused_on_import(alg: str, rsa_1024: rsa.RSAPrivateKey) -> None:
    with pytest.raises(InvalidKey, match="2048"):
        JWK.from_pem(public_pem(rsa_1024), alg=alg)
    with pytest.raises(InvalidKey, match="2048"):
        JWK.from_pem(private_pem(rsa_1024), alg=alg)
    numbers = rsa_1024.public_key().public_numbers()
    document = {
        "kty": "RSA",
        "alg": alg,
        "n": b64url(numbers.n.to_bytes(128, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }
    with pytest.raises(InvalidKey, match="2048"):
        JWK.from_dict(document)


def test_rsa_pem_of_2048_bits_is_accepted(keys_by_alg: dict[str, JWK]) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = JWK.from_pem(public_pem(private), alg="PS256")
    assert key.alg == "PS256" and not key.is_private
    assert key.kid == rfc7638_thumbprint(key.public_dict())


@pytest.mark.parametrize(
    ("alg", "make"),
    [
        ("ES256", lambda: ec.generate_private_key(ec.SECP384R1())),
        ("ES256", lambda: ec.generate_private_key(ec.SECP521R1())),
        ("ES256", lambda: ec.generate_private_key(ec.SECP256K1())),
        ("ES384", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", lambda: x25519.X25519PrivateKey.generate()),
        ("ES256", lambda: ed25519.Ed25519PrivateKey.generate()),
        ("EdDSA", lambda: ec.generate_private_key(ec.SECP256R1())),
        ("RS256", lambda: ec.generate_private_key(ec.SECP256R1())),
    ],
    ids=[
        "P-384-for-ES256",
        "P-521-for-ES256",
        "secp256k1-for-ES256",
        "P-256-for-ES384",
        "X25519-for-EdDSA",
        "Ed25519-for-ES256",
        "P-256-for-EdDSA",
        "EC-for-RS256",
    ],
)
def test_wrong_curve_or_key_type_is_refused(alg: str, make: Any) -> None:
    private = make()
    with pytest.raises(InvalidKey):
        JWK.from_pem(public_pem(private), alg=alg)
    with pytest.raises(InvalidKey):
        JWK.from_pem(private_pem(private), alg=alg)


def test_wrong_curve_in_a_jwk_document_is_refused(keys_by_alg: dict[str, JWK]) -> None:
    p384 = keys_by_alg["ES384"].public_dict()
    with pytest.raises(InvalidKey, match="P-256"):
        JWK.from_dict({**p384, "alg": "ES256"})
    with pytest.raises(InvalidKey):
        JWK.from_dict({**keys_by_alg["ES256"].public_dict(), "crv": "P-384"})


def test_ed448_is_accepted_for_eddsa() -> None:
    key = JWK.from_pem(private_pem(ed448.Ed448PrivateKey.generate()), alg="EdDSA")
    assert key.public().verify_signature(b"m", key.sign(b"m"))


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_secret_shorter_than_the_hash_is_refused(alg: str, size: int) -> None:
    secret = bytes(range(size))
    assert JWK.from_secret(secret, alg=alg).alg == alg
    assert JWK.from_secret(secret + b"more", alg=alg).alg == alg
    for short in (secret[:-1], b"", b"x"):
        with pytest.raises(InvalidKey, match=f"at least {size} bytes"):
            JWK.from_secret(short, alg=alg)
        with pytest.raises(InvalidKey, match=f"at least {size} bytes"):
            JWK.from_dict({"kty": "oct", "k": b64url(short), "alg": alg})


def test_hmac_secret_as_text_is_its_utf8_bytes() -> None:
    text = "ü" * 16  # 16 characters, 32 bytes
    key = JWK.from_secret(text, alg="HS256")
    assert unb64url(key.private_dict()["k"]) == text.encode()
    with pytest.raises(InvalidKey):
        JWK.from_secret("a" * 31, alg="HS256")


@pytest.fixture(scope="module")
def ec_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_texts(private: ec.EllipticCurvePrivateKey) -> dict[str, bytes]:
    pem = public_pem(private)
    ssh = private.public_key().public_bytes(Enc.OpenSSH, Pub.OpenSSH)
    ed_ssh = (
        ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Enc.OpenSSH, Pub.OpenSSH)
    )
    jwk = JWK.from_pem(pem, alg="ES256").public_dict()
    return {
        "pem": pem,
        "pem-no-final-newline": pem.rstrip(b"\n"),
        "private-pem": private_pem(private),
        "ssh-ecdsa": ssh,
        "ssh-ed25519": ed_ssh,
        "ssh-with-comment-and-newline": ssh + b" me@host\n",
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-indented": b"\n  " + json.dumps(jwk, indent=2).encode(),
        "jwks-json": json.dumps({"keys": [jwk]}).encode(),
    }


KEY_TEXTS = [
    "pem",
    "pem-no-final-newline",
    "private-pem",
    "ssh-ecdsa",
    "ssh-ed25519",
    "ssh-with-comment-and-newline",
    "jwk-json",
    "jwk-json-indented",
    "jwks-json",
]


@pytest.mark.parametrize("name", KEY_TEXTS)
@pytest.mark.parametrize("alg", SYMMETRIC)
def test_key_text_is_never_an_hmac_secret(
    name: str, alg: str, ec_private: ec.EllipticCurvePrivateKey
) -> None:
    material = _key_texts(ec_private)[name]
    assert len(material) >= 64  # refused for what it is, not for its length
    with pytest.raises(InvalidKey, match="never an HMAC secret"):
        JWK.from_secret(material, alg=alg)
    with pytest.raises(InvalidKey, match="never an HMAC secret"):
        JWK.from_secret(material.decode(), alg=alg)
    with pytest.raises(InvalidKey):
        JWK.from_dict({"kty": "oct", "k": b64url(material), "alg": alg})


def test_pem_for_an_hmac_algorithm_is_refused(ec_private: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(InvalidKey, match="never an HMAC secret"):
        JWK.from_pem(public_pem(ec_private), alg="HS256")


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA", "none"])
def test_secret_for_an_asymmetric_algorithm_is_refused(alg: str) -> None:
    with pytest.raises(InvalidKey):
        JWK.from_secret(b"s" * 64, alg=alg)


@pytest.mark.parametrize(
    "data", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"]
)
def test_garbage_pem_is_refused(data: bytes) -> None:
    with pytest.raises(InvalidKey, match="PEM"):
        JWK.from_pem(data, alg="ES256")


def test_encrypted_pem_needs_its_password(ec_private: ec.EllipticCurvePrivateKey) -> None:
    pem = ec_private.private_bytes(
        Enc.PEM, Priv.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    assert JWK.from_pem(pem, alg="ES256", password=b"pw").is_private
    with pytest.raises(InvalidKey):
        JWK.from_pem(pem, alg="ES256")
    with pytest.raises(InvalidKey):
        JWK.from_pem(pem, alg="ES256", password=b"wrong")


# --- from_dict ------------------------------------------------------------------------------


def test_from_dict_infers_only_unambiguous_algorithms(keys_by_alg: dict[str, JWK]) -> None:
    for alg in ("ES256", "ES384", "EdDSA"):
        document = {k: v for k, v in keys_by_alg[alg].public_dict().items() if k != "alg"}
        assert JWK.from_dict(document).alg == alg
    rsa_doc = {k: v for k, v in keys_by_alg["RS256"].public_dict().items() if k != "alg"}
    with pytest.raises(InvalidKey, match="alg"):
        JWK.from_dict(rsa_doc)
    assert JWK.from_dict(rsa_doc, alg="PS256").alg == "PS256"


def test_from_dict_declared_alg_must_match_the_requested_one(
    keys_by_alg: dict[str, JWK],
) -> None:
    document = keys_by_alg["RS256"].public_dict()
    assert JWK.from_dict(document, alg="RS256").alg == "RS256"
    with pytest.raises(InvalidKey, match="declares alg"):
        JWK.from_dict(document, alg="PS256")


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"kty": "XYZ"},
        {"kty": None},
        {"kty": ["EC"]},
        {"kty": "oct", "alg": "HS256"},
        {"kty": "oct", "alg": "HS256", "k": 123},
        {"kty": "oct", "alg": "HS256", "k": b64url(b"k" * 32) + "="},
        {"kty": "oct", "alg": "HS256", "k": "a+b/" * 11},
        {"kty": "oct", "alg": 256, "k": b64url(b"k" * 32)},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
        {"kty": "EC", "crv": "P-256"},
        {"kty": "RSA", "alg": "RS256", "n": "AQAB"},
        {"kty": "OKP", "crv": "Ed25519", "x": 5},
    ],
    ids=repr,
)
def test_malformed_jwk_documents(document: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        JWK.from_dict(document)


@pytest.mark.parametrize("document", [None, [], "{}", 1], ids=repr)
def test_non_mapping_jwk(document: Any) -> None:
    with pytest.raises(InvalidKey, match="JSON object"):
        JWK.from_dict(document)


def test_from_dict_keeps_kid_and_drops_foreign_members(keys_by_alg: dict[str, JWK]) -> None:
    document = {
        **keys_by_alg["ES256"].public_dict(),
        "kid": "my-kid",
        "x5u": "https://evil.example/cert",
        "key_ops": ["sign"],
    }
    key = JWK.from_dict(document)
    assert key.kid == "my-kid"
    assert "x5u" not in key.public_dict()
    with pytest.raises(InvalidKey, match="kid"):
        JWK.from_dict({**document, "kid": 7})


# --- JWKSet ---------------------------------------------------------------------------------


def test_jwkset_lookup(keys_by_alg: dict[str, JWK]) -> None:
    es, ed = keys_by_alg["ES256"], keys_by_alg["EdDSA"]
    one = JWKSet([es.public()])
    assert one.get(None) == es
    assert one.get(es.kid) == es
    assert one.get("other") is None
    two = JWKSet([es.public(), ed.public()])
    assert two.get(None) is None
    assert two.get(ed.kid) == ed
    assert len(two) == 2 and es.kid in two and "x" not in two
    assert {k.kid for k in two} == {es.kid, ed.kid}
    assert JWKSet().get(None) is None


def test_jwkset_refuses_a_shared_kid(keys_by_alg: dict[str, JWK]) -> None:
    es = keys_by_alg["ES256"]
    with pytest.raises(InvalidKey, match="share the kid"):
        JWKSet([es, es.public()])


def test_jwkset_document_round_trip(keys_by_alg: dict[str, JWK]) -> None:
    keys = JWKSet(keys_by_alg.values())
    document = keys.public_document()
    assert len(document["keys"]) == 5  # the three HMAC keys are never published
    for entry in document["keys"]:
        assert PRIVATE_MEMBERS.isdisjoint(entry)
    again = JWKSet.from_dict(json.loads(json.dumps(document)))
    assert {k.kid for k in again} == {k.kid for k in keys if not k.is_symmetric}
    assert not any(k.is_private for k in again)


def test_jwkset_from_dict_skips_encryption_keys_and_invalid_ones(
    keys_by_alg: dict[str, JWK],
) -> None:
    good = keys_by_alg["ES256"].public_dict()
    enc = {**keys_by_alg["EdDSA"].public_dict(), "use": "enc"}
    weird = {"kty": "RSA", "n": "AQAB", "e": "AQAB"}
    document = {"keys": [good, enc, weird, good]}
    with pytest.raises(InvalidKey):
        JWKSet.from_dict(document)
    lenient = JWKSet.from_dict(document, skip_invalid=True)
    assert [k.kid for k in lenient] == [good["kid"]]


@pytest.mark.parametrize("document", [{}, {"keys": {}}, [], None, {"keys": "x"}], ids=repr)
def test_jwkset_from_malformed_document(document: Any) -> None:
    with pytest.raises(InvalidKey, match="'keys' array"):
        JWKSet.from_dict(document)


@pytest.mark.parametrize("k", ["a+b/" + "A" * 60, "A" * 43 + "=", "A" * 42 + "B", "A!" + "A" * 41])
def test_oct_jwk_k_must_be_canonical_base64url(k: str) -> None:
    with pytest.raises(InvalidKey):
        JWK.from_dict({"kty": "oct", "alg": "HS256", "k": k})


# --- signature checks -----------------------------------------------------------------------

#: Order of the P-256 and P-384 base points (SEC 2 §2.4.2, §2.5.1).
_ORDERS = {
    "ES256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "ES384": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
        "581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA"])
def test_verify_signature_takes_only_the_exact_signature(alg: str) -> None:
    key = JWK.generate(alg)
    public = key.public()
    signature = key.sign(b"data")
    assert public.verify_signature(b"data", signature)
    assert key.verify_signature(b"data", signature)
    assert not public.verify_signature(b"datA", signature)
    for wrong in (signature[:-1], signature + b"\x00", b"\x00" + signature, b"", bytes(4096)):
        assert not public.verify_signature(b"data", wrong)


@pytest.mark.parametrize("alg", ["ES256", "ES384"])
def test_ecdsa_r_or_s_out_of_range_is_refused(alg: str) -> None:
    key = JWK.generate(alg)
    size = 32 if alg == "ES256" else 48
    n = _ORDERS[alg]
    signature = key.sign(b"data")
    r = int.from_bytes(signature[:size], "big")
    s = int.from_bytes(signature[size:], "big")
    for bad_r, bad_s in ((0, s), (r, 0), (0, 0), (r + n, s), (r, s + n), (n, n)):
        if bad_r >= 256**size or bad_s >= 256**size:
            continue
        forged = bad_r.to_bytes(size, "big") + bad_s.to_bytes(size, "big")
        assert not key.public().verify_signature(b"data", forged)


def test_ed448_keys_check_114_byte_signatures() -> None:
    private = ed448.Ed448PrivateKey.generate()
    key = JWK.from_pem(public_pem(private), alg="EdDSA")
    signature = private.sign(b"data")
    assert len(signature) == 114
    assert key.verify_signature(b"data", signature)
    assert not key.verify_signature(b"data", signature[:64])
