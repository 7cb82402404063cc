"""``ostiary keys generate``: public JWK by default, private only on request and with a warning."""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.cli.keys import GeneratedAlg
from ostiary.jose import JWK, PRIVATE_MEMBERS
from ostiary.keys import GENERATED_ALGORITHMS


def generate(runner: CliRunner, *args: str) -> tuple[int, dict[str, Any] | None, str]:
    """Exit code, the JSON printed (if any) and stderr of ``ostiary keys generate ARGS``."""
    result = runner.invoke(app, ["keys", "generate", *args])
    document = json.loads(result.stdout) if result.exit_code == 0 else None
    return result.exit_code, document, result.stderr


def test_alg_choices_are_the_generated_algorithms() -> None:
    assert get_args(GeneratedAlg) == GENERATED_ALGORITHMS


def test_default_is_a_public_es256_jwk(runner: CliRunner) -> None:
    code, jwk, stderr = generate(runner)
    assert code == 0
    assert jwk is not None
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert not PRIVATE_MEMBERS & jwk.keys()
    assert JWK.from_dict(jwk).kid == jwk["kid"]  # the kid is the RFC 7638 thumbprint
    assert stderr == ""


@pytest.mark.parametrize(("alg", "kty"), [("EdDSA", "OKP"), ("RS256", "RSA"), ("PS256", "RSA")])
def test_asymmetric_algorithms_print_public_keys(runner: CliRunner, alg: str, kty: str) -> None:
    code, jwk, _ = generate(runner, "--alg", alg, "--rsa-bits", "2048")
    assert code == 0
    assert jwk is not None
    assert (jwk["kty"], jwk["alg"]) == (kty, alg)
    assert not PRIVATE_MEMBERS & jwk.keys()


def test_private_prints_the_private_key_and_warns(runner: CliRunner) -> None:
    code, jwk, stderr = generate(runner, "--private")
    assert code == 0
    assert jwk is not None
    assert "d" in jwk
    assert JWK.from_dict(jwk).is_private
    assert "PRIVATE key" in stderr


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_hmac_needs_private(runner: CliRunner, alg: str) -> None:
    code, _, stderr = generate(runner, "--alg", alg)
    assert code == 2
    assert "no public form" in stderr
    assert "--private" in stderr


@pytest.mark.parametrize(("alg", "size"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_hmac_with_private_prints_the_secret(runner: CliRunner, alg: str, size: int) -> None:
    code, jwk, stderr = generate(runner, "--alg", alg, "--private")
    assert code == 0
    assert jwk is not None
    assert (jwk["kty"], jwk["alg"]) == ("oct", alg)
    assert JWK.from_dict(jwk).is_symmetric
    assert len(jwk["k"]) == -(-size * 4 // 3)  # unpadded base64url of ``size`` bytes
    assert "PRIVATE key" in stderr


@pytest.mark.parametrize("alg", ["none", "es256", "ES384", "RS512", "HS1"])
def test_bad_alg_is_a_usage_error(runner: CliRunner, alg: str) -> None:
    code, _, stderr = generate(runner, "--alg", alg)
    assert code == 2
    assert "--alg" in stderr


@pytest.mark.parametrize("bits", ["1024", "2047", "0", "-1"])
def test_rsa_bits_under_2048_are_refused(runner: CliRunner, bits: str) -> None:
    code, _, stderr = generate(runner, "--alg", "RS256", "--rsa-bits", bits)
    assert code == 2
    assert "--rsa-bits" in stderr
    assert "2048" in stderr


def test_rsa_bits_is_honoured(runner: CliRunner) -> None:
    code, jwk, _ = generate(runner, "--alg", "PS256", "--rsa-bits", "2048")
    assert jwk is not None
    modulus = JWK.from_dict(jwk).public_dict()["n"]
    assert code == 0
    assert len(modulus) == 342  # 256 bytes in unpadded base64url


def test_rsa_bits_default_is_3072(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "generate", "--help"])
    assert "3072" in result.stdout
