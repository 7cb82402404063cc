"""``ostiary token verify``: claims on success; on failure every reason, and never the token."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, get_args

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

from ostiary.cli.app import app
from ostiary.cli.token import VerifyAlg
from ostiary.jose import ALGORITHMS, JWK
from ostiary.keys import generate_key

from ._helpers import AUDIENCE, ISSUER, MakeToken, jwks_server


def verify(runner: CliRunner, token: str, *options: str, stdin: str | None = None) -> Result:
    args = ["token", "verify", token, "--issuer", ISSUER, "--audience", AUDIENCE, *options]
    return runner.invoke(app, args, input=stdin)


def write_json(tmp_path: Path, document: Any) -> str:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture
def key_file(tmp_path: Path, signing_key: JWK) -> str:
    """The signing key's public JWK in a file."""
    return write_json(tmp_path, signing_key.public_dict())


def assert_rejected(result: Result, token: str, *reasons: str) -> list[str]:
    """Exit 1, nothing on stdout, one line per reason on stderr, no trace of the token."""
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: The token is NOT valid:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == list(reasons)
    for part in filter(None, token.split(".")):
        assert part not in result.output
    return lines[1:]


def test_alg_choices_are_the_allowed_algorithms() -> None:
    assert set(get_args(VerifyAlg)) == set(ALGORITHMS)


def test_valid_token_prints_its_claims(
    runner: CliRunner, make_token: MakeToken, key_file: str
) -> None:
    result = verify(runner, make_token(sub="alice"), "--key", key_file)
    assert result.exit_code == 0, result.output
    claims = json.loads(result.stdout)
    assert (claims["sub"], claims["iss"], claims["aud"]) == ("alice", ISSUER, AUDIENCE)
    assert "verified" in result.stderr


def test_token_from_stdin(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    result = verify(runner, "-", "--key", key_file, stdin=f"  {make_token(sub='bob')}\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "bob"


def test_every_failed_check_is_printed(
    runner: CliRunner, make_token: MakeToken, key_file: str
) -> None:
    token = make_token(exp=int(time.time()) - 3600, aud="https://other.test", iss="https://x")
    lines = assert_rejected(
        verify(runner, token, "--key", key_file),
        token,
        "wrong_issuer",
        "wrong_audience",
        "expired",
    )
    assert "The token has expired (" in lines[2]
    assert "The token is not intended for this audience (" in lines[1]


def test_a_single_failure(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    token = make_token(client_id=None)
    lines = assert_rejected(verify(runner, token, "--key", key_file), token, "missing_claim")
    assert "client_id" in lines[0]


def test_bad_signature(
    runner: CliRunner, make_token: MakeToken, key_file: str, signing_key: JWK
) -> None:
    impostor = JWK.from_dict({**generate_key("ES256").private_dict(), "kid": signing_key.kid})
    token = make_token(key=impostor)
    assert_rejected(verify(runner, token, "--key", key_file), token, "bad_signature")


def test_unknown_key(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    token = make_token(key=generate_key("ES256"))
    assert_rejected(verify(runner, token, "--key", key_file), token, "unknown_key")


def test_id_token_type_is_refused(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    token = make_token(typ="JWT")
    assert_rejected(verify(runner, token, "--key", key_file), token, "wrong_type")


def test_alg_none_is_refused(runner: CliRunner, key_file: str) -> None:
    token = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0."
    assert_rejected(verify(runner, token, "--key", key_file), token, "disallowed_algorithm")


def test_leeway(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    token = make_token(exp=int(time.time()) - 10)
    assert verify(runner, token, "--key", key_file).exit_code == 0
    assert_rejected(verify(runner, token, "--key", key_file, "--leeway", "0"), token, "expired")
    assert verify(runner, token, "--key", key_file, "--leeway", "301").exit_code == 2


def test_any_of_several_audiences(runner: CliRunner, make_token: MakeToken, key_file: str) -> None:
    token = make_token(aud=["https://b.test"])
    result = verify(runner, token, "--key", key_file, "--audience", "https://b.test")
    assert result.exit_code == 0, result.output


def test_jwks_file(runner: CliRunner, make_token: MakeToken, tmp_path: Path) -> None:
    keys = [generate_key("ES256"), generate_key("EdDSA")]
    path = write_json(tmp_path, {"keys": [k.public_dict() for k in keys]})
    result = verify(runner, make_token(key=keys[1], sub="dave"), "--key", path)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "dave"


def test_hmac_jwk_file(runner: CliRunner, make_token: MakeToken, tmp_path: Path) -> None:
    key = generate_key("HS256")
    result = verify(runner, make_token(key=key), "--key", write_json(tmp_path, key.private_dict()))
    assert result.exit_code == 0, result.output


# --- PEM ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pem_pair() -> tuple[JWK, bytes]:
    """An ES256 private key as a JWK (for signing) and its public key in PEM."""
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return JWK.from_pem(private_pem, alg="ES256"), public_pem


def test_pem_public_key(
    runner: CliRunner, make_token: MakeToken, tmp_path: Path, pem_pair: tuple[JWK, bytes]
) -> None:
    key, pem = pem_pair
    path = tmp_path / "public.pem"
    path.write_bytes(pem)
    result = verify(runner, make_token(key=key), "--key", str(path), "--alg", "ES256")
    assert result.exit_code == 0, result.output


def test_pem_key_with_a_kid(
    runner: CliRunner, make_token: MakeToken, tmp_path: Path, pem_pair: tuple[JWK, bytes]
) -> None:
    private, pem = pem_pair
    key = JWK.from_dict({**private.private_dict(), "kid": "2025-01"})
    path = tmp_path / "public.pem"
    path.write_bytes(pem)
    options = ("--key", str(path), "--alg", "ES256")
    token = make_token(key=key)
    assert_rejected(verify(runner, token, *options), token, "unknown_key")
    assert verify(runner, token, *options, "--kid", "2025-01").exit_code == 0


def test_pem_needs_alg(runner: CliRunner, tmp_path: Path, pem_pair: tuple[JWK, bytes]) -> None:
    path = tmp_path / "public.pem"
    path.write_bytes(pem_pair[1])
    result = verify(runner, "a.b.c", "--key", str(path))
    assert result.exit_code == 2
    assert "--alg" in result.stderr


def test_pem_with_the_wrong_alg(
    runner: CliRunner, tmp_path: Path, pem_pair: tuple[JWK, bytes]
) -> None:
    path = tmp_path / "public.pem"
    path.write_bytes(pem_pair[1])
    result = verify(runner, "a.b.c", "--key", str(path), "--alg", "RS256")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")


# --- misuse ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"not a key", b'{"kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"}', b"[]", b"\xff"],
)
def test_unusable_key_file(runner: CliRunner, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    result = verify(runner, "a.b.c", "--key", str(path))
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_key_file_must_exist(runner: CliRunner, tmp_path: Path) -> None:
    assert verify(runner, "a.b.c", "--key", str(tmp_path / "missing.json")).exit_code == 2


def test_alg_with_a_jwks_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    path = write_json(tmp_path, {"keys": []})
    result = verify(runner, "a.b.c", "--key", path, "--alg", "ES256")
    assert result.exit_code == 2


@pytest.mark.parametrize("both", [False, True])
def test_exactly_one_key_source(runner: CliRunner, key_file: str, both: bool) -> None:
    options = ("--key", key_file, "--jwks-url", "https://issuer.test/jwks.json") if both else ()
    result = verify(runner, "a.b.c", *options)
    assert result.exit_code == 2
    assert "--jwks-url" in result.stderr


def test_empty_issuer(runner: CliRunner, key_file: str) -> None:
    args = ["token", "verify", "a.b.c", "--issuer", "", "--audience", "x", "--key", key_file]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "issuer" in result.stderr


def test_plain_http_jwks_url_off_loopback(runner: CliRunner) -> None:
    result = verify(runner, "a.b.c", "--jwks-url", "http://issuer.test/jwks.json")
    assert result.exit_code == 1
    assert "https" in result.stderr


# --- JWKS over HTTP -------------------------------------------------------------------------


def test_jwks_url(runner: CliRunner, make_token: MakeToken, signing_key: JWK) -> None:
    with jwks_server({"keys": [signing_key.public_dict()]}) as base:
        result = verify(runner, make_token(sub="erin"), "--jwks-url", f"{base}/jwks.json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["sub"] == "erin"


def test_jwks_url_without_the_key(
    runner: CliRunner, make_token: MakeToken, signing_key: JWK
) -> None:
    token = make_token(key=generate_key("ES256"))
    with jwks_server({"keys": [signing_key.public_dict()]}) as base:
        result = verify(runner, token, "--jwks-url", f"{base}/jwks.json")
    assert_rejected(result, token, "unknown_key")


def test_jwks_url_unavailable(
    runner: CliRunner, make_token: MakeToken, caplog: pytest.LogCaptureFixture
) -> None:
    with jwks_server({"keys": []}) as base:
        result = verify(runner, make_token(), "--jwks-url", f"{base}/missing")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: The keys to verify tokens are not available")
    assert "HTTP 404" in caplog.text
