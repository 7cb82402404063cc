"""``MasterKey``: private keys sealed with AES-256-GCM, bound to their ``kid``."""

from __future__ import annotations

import base64
import json

import pytest

from ostiary.errors import ConfigurationError, InvalidKey
from ostiary.jose import JWK
from ostiary.keys import GENERATED_ALGORITHMS, MIN_RSA_BITS, MasterKey, generate_key
from ostiary.keys.encryption import MASTER_KEY_BYTES


@pytest.fixture(scope="module")
def keys() -> dict[str, JWK]:
    """One key per algorithm, RSA generated once for the module."""
    return {alg: generate_key(alg, rsa_bits=MIN_RSA_BITS) for alg in GENERATED_ALGORITHMS}


@pytest.fixture(scope="module")
def master() -> MasterKey:
    return MasterKey.generate()


def envelope(sealed: bytes) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(sealed)
    return loaded


def reseal(sealed: bytes, **changes: object) -> bytes:
    return json.dumps({**envelope(sealed), **changes}).encode()


def flip_first_byte(text: object) -> str:
    assert isinstance(text, str)
    raw = bytearray(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    raw[0] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.mark.parametrize("alg", GENERATED_ALGORITHMS)
def test_seal_and_open_round_trip(master: MasterKey, keys: dict[str, JWK], alg: str) -> None:
    key = keys[alg]
    opened = master.open_key(master.seal_key(key), kid=key.kid)
    assert opened == key
    assert opened.is_private
    assert opened.private_dict() == key.private_dict()


@pytest.mark.parametrize("alg", GENERATED_ALGORITHMS)
def test_sealed_form_hides_the_key(master: MasterKey, keys: dict[str, JWK], alg: str) -> None:
    key = keys[alg]
    sealed = master.seal_key(key)
    secret = key.private_dict().get("d") or key.private_dict()["k"]
    assert secret.encode() not in sealed
    assert envelope(sealed)["enc"] == "A256GCM"
    assert envelope(sealed)["mk"] == master.key_id


def test_each_seal_uses_a_fresh_nonce(master: MasterKey, keys: dict[str, JWK]) -> None:
    a, b = (envelope(master.seal_key(keys["ES256"])) for _ in range(2))
    assert a["iv"] != b["iv"]
    assert a["ct"] != b["ct"]


def test_wrong_master_key_fails(master: MasterKey, keys: dict[str, JWK]) -> None:
    sealed = master.seal_key(keys["ES256"])
    with pytest.raises(InvalidKey, match="wrong master key"):
        MasterKey.generate().open_key(sealed, kid=keys["ES256"].kid)


@pytest.mark.parametrize("member", ["ct", "iv"])
def test_tampering_fails(master: MasterKey, keys: dict[str, JWK], member: str) -> None:
    sealed = master.seal_key(keys["EdDSA"])
    tampered = reseal(sealed, **{member: flip_first_byte(envelope(sealed)[member])})
    with pytest.raises(InvalidKey):
        master.open_key(tampered, kid=keys["EdDSA"].kid)


@pytest.mark.parametrize(
    "changes",
    [{"iv": "AAAA"}, {"iv": ""}, {"ct": ""}, {"v": 2}, {"enc": "A128GCM"}, {"iv": 7}],
)
def test_malformed_envelopes_fail(
    master: MasterKey, keys: dict[str, JWK], changes: dict[str, object]
) -> None:
    sealed = master.seal_key(keys["ES256"])
    with pytest.raises(InvalidKey):
        master.open_key(reseal(sealed, **changes), kid=keys["ES256"].kid)


@pytest.mark.parametrize("sealed", [b"", b"not json", b"[1]", b"{}", b"\xff"])
def test_garbage_fails(master: MasterKey, sealed: bytes) -> None:
    with pytest.raises(InvalidKey):
        master.open(sealed, context="kid")


def test_a_sealed_key_moved_to_another_kid_fails(master: MasterKey, keys: dict[str, JWK]) -> None:
    sealed = master.seal_key(keys["ES256"])
    with pytest.raises(InvalidKey):
        master.open_key(sealed, kid=keys["EdDSA"].kid)


def test_context_is_bound(master: MasterKey) -> None:
    sealed = master.seal(b"payload", context="a")
    assert master.open(sealed, context="a") == b"payload"
    with pytest.raises(InvalidKey):
        master.open(sealed, context="b")


@pytest.mark.parametrize(
    "raw",
    [b"", b"k" * 16, b"k" * 31, b"k" * 33, bytes(32), b"\x01\x02" * 16, (bytes(range(7)) * 5)[:32]],
    ids=["empty", "16", "31", "33", "zeros", "two values", "seven values"],
)
def test_weak_or_short_master_keys_are_refused(raw: bytes) -> None:
    with pytest.raises(ConfigurationError):
        MasterKey(raw)


@pytest.mark.parametrize(
    "text", ["", "short", "a" * 43, "!!!!" + "A" * 40, "Zm9v" * 10 + "\u00e9\u00e9\u00e9"]
)
def test_weak_or_malformed_master_key_text_is_refused(text: str) -> None:
    with pytest.raises(ConfigurationError):
        MasterKey.from_text(text)


def test_text_form_round_trip(keys: dict[str, JWK]) -> None:
    text = MasterKey.new_text()
    assert len(text) == 43
    assert len(base64.urlsafe_b64decode(text + "=")) == MASTER_KEY_BYTES
    first, again = MasterKey.from_text(text), MasterKey.from_text(f"  {text}\n")
    assert first.key_id == again.key_id
    sealed = first.seal_key(keys["HS256"])
    assert again.open_key(sealed, kid=keys["HS256"].kid) == keys["HS256"]


def test_stray_characters_in_the_text_form_are_refused() -> None:
    text = MasterKey.new_text()
    with pytest.raises(ConfigurationError):
        MasterKey.from_text(text[:20] + "!" + text[20:])


def test_new_text_is_fresh_and_has_its_own_id() -> None:
    a, b = MasterKey.new_text(), MasterKey.new_text()
    assert a != b
    assert MasterKey.from_text(a).key_id != MasterKey.from_text(b).key_id


def test_repr_never_shows_the_key() -> None:
    text = MasterKey.new_text()
    shown = repr(MasterKey.from_text(text))
    assert text not in shown
    assert shown.startswith("MasterKey(id=")
