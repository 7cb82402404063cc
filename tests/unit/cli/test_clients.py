"""``ostiary clients create|list|show|rotate-secret|delete`` on a real SQLite file."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.cli.clients import SHOWN_ONCE
from ostiary.keys import generate_key
from ostiary.storage import open_storage
from ostiary.storage.records import Client

WEB_APP = "https://app.example.com/callback"


@pytest.fixture
def public_jwks(tmp_path: Path) -> Path:
    path = tmp_path / "client-jwks.json"
    path.write_text(json.dumps({"keys": [generate_key("ES256").public_dict()]}))
    return path


def run(runner: CliRunner, *args: str) -> tuple[int, Any, str]:
    """Exit code, the JSON printed (None if none) and stderr."""
    result = runner.invoke(app, ["clients", *args])
    output = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, output, result.stderr


def create(runner: CliRunner, *args: str) -> dict[str, Any]:
    code, client, stderr = run(runner, "create", *args)
    assert code == 0, stderr
    assert isinstance(client, dict)
    return client


def stored(env: dict[str, str], client_id: str) -> Client | None:
    async def get() -> Client | None:
        storage = await open_storage(env["OSTIARY_DATABASE_URL"])
        try:
            return await storage.clients.get(client_id)
        finally:
            await storage.close()

    return asyncio.run(get())


def assert_secret_matches(env: dict[str, str], client_id: str, secret: str) -> None:
    client = stored(env, client_id)
    assert client is not None
    assert client.secret_hash is not None
    assert secret not in client.secret_hash
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert hmac.compare_digest(digest, client.secret_hash)


# --- create --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_create_a_secret_client_prints_its_secret_once(
    runner: CliRunner, env: dict[str, str], method: str
) -> None:
    code, client, stderr = run(
        runner, "create", "Billing job", "--id", "billing", "--auth-method", method,
        "--scope", "invoices:read", "--audience", "https://api.example.com",
    )  # fmt: skip
    assert code == 0, stderr
    assert SHOWN_ONCE in stderr
    secret = client.pop("client_secret")
    assert len(secret) >= 43
    assert client["id"] == "billing"
    assert client["name"] == "Billing job"
    assert client["auth_method"] == method
    assert client["grant_types"] == ["client_credentials"]
    assert client["scopes"] == ["invoices:read"]
    assert client["audiences"] == ["https://api.example.com"]
    assert client["has_secret"] is True
    assert client["jwks"] is None
    assert client["created_at"] == client["updated_at"]
    assert client["created_at"].endswith("+00:00")
    assert "secret_hash" not in client
    assert_secret_matches(env, "billing", secret)


def test_create_defaults_to_a_basic_service_account_with_a_random_id(
    runner: CliRunner, env: dict[str, str]
) -> None:
    client = create(runner, "Nightly export")
    assert client["id"].startswith("cl_")
    assert client["auth_method"] == "client_secret_basic"
    assert client["grant_types"] == ["client_credentials"]
    assert "client_secret" in client


def test_create_a_private_key_jwt_client(
    runner: CliRunner, env: dict[str, str], public_jwks: Path
) -> None:
    code, client, stderr = run(
        runner, "create", "Signer", "--id", "signer", "--jwks-file", str(public_jwks)
    )
    assert code == 0, stderr
    assert client["auth_method"] == "private_key_jwt"  # implied by --jwks-file
    assert client["has_secret"] is False
    assert "client_secret" not in client
    assert SHOWN_ONCE not in stderr
    assert client["jwks"] == json.loads(public_jwks.read_text())


def test_create_takes_a_single_jwk_as_a_set_of_one(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
) -> None:
    key = generate_key("ES256").public_dict()
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key))
    client = create(runner, "Signer", "--auth-method", "private_key_jwt", "--jwks-file", str(path))
    assert client["jwks"] == {"keys": [key]}


def test_create_a_public_web_app(runner: CliRunner, env: dict[str, str]) -> None:
    client = create(
        runner, "Web app", "--id", "web", "--auth-method", "none", "--redirect-uri", WEB_APP,
        "--post-logout-redirect-uri", "https://app.example.com/", "--scope", "openid profile",
        "--first-party",
    )  # fmt: skip
    assert client["auth_method"] == "none"
    # authorization_code and refresh_token are implied by --redirect-uri
    assert client["grant_types"] == ["authorization_code", "refresh_token"]
    assert client["redirect_uris"] == [WEB_APP]
    assert client["post_logout_redirect_uris"] == ["https://app.example.com/"]
    assert client["scopes"] == ["openid", "profile"]
    assert client["first_party"] is True
    assert client["has_secret"] is False
    assert "client_secret" not in client


def test_create_a_web_app_with_back_channel_logout(runner: CliRunner, env: dict[str, str]) -> None:
    """OpenID Connect Back-Channel Logout §2.2: the URI, and whether the app needs sid
    (default yes: Ostiary always sends it); `show` prints both."""
    create(
        runner, "Web app", "--id", "web", "--redirect-uri", WEB_APP,
        "--backchannel-logout-uri", "https://app.example.com/backchannel-logout",
    )  # fmt: skip
    create(
        runner, "Other", "--id", "other", "--redirect-uri", WEB_APP,
        "--backchannel-logout-uri", "http://127.0.0.1:8000/logout",
        "--no-backchannel-logout-session-required",
    )  # fmt: skip
    plain = create(runner, "Plain", "--id", "plain", "--redirect-uri", WEB_APP)
    code, shown, _ = run(runner, "show", "web")
    assert code == 0
    assert shown["backchannel_logout_uri"] == "https://app.example.com/backchannel-logout"
    assert shown["backchannel_logout_session_required"] is True
    other = stored(env, "other")
    assert other is not None
    assert other.backchannel_logout_uri == "http://127.0.0.1:8000/logout"
    assert not other.backchannel_logout_session_required
    assert plain["backchannel_logout_uri"] is None


def test_create_refuses_a_taken_id(runner: CliRunner, env: dict[str, str]) -> None:
    create(runner, "First", "--id", "dup")
    code, output, stderr = run(runner, "create", "Second", "--id", "dup")
    assert (code, output) == (1, None)
    assert stderr == "error: The client id 'dup' is taken.\n"
    assert len(run(runner, "list")[1]) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grant-type", "authorization_code", "--redirect-uri", "http://app.example.com/cb"],
         "Invalid redirect URI 'http://app.example.com/cb': plain http is only allowed"),
        (["--grant-type", "authorization_code", "--redirect-uri", "https://a.example/cb#x"],
         "Invalid redirect URI"),
        (["--auth-method", "none", "--grant-type", "client_credentials"],
         "A public client (auth method 'none') cannot use client_credentials"),
        (["--auth-method", "none"],  # a public client defaults to authorization_code
         "authorization_code needs at least one redirect URI."),
        (["--grant-type", "password"], "Unsupported grant type 'password'"),
        (["--grant-type", "authorization_code"],
         "authorization_code needs at least one redirect URI."),
        (["--grant-type", "refresh_token"], "refresh_token comes with authorization_code."),
        (["--redirect-uri", WEB_APP, "--grant-type", "client_credentials"],
         "Redirect URIs are only for authorization_code clients."),
        (["--auth-method", "private_key_jwt"],
         "private_key_jwt needs the client's public JWK Set."),
        (["--id", "no spaces"], "A client id is 1 to 100 letters"),
        (["--scope", "bad\"scope"], "Invalid scope"),
        (["--audience", "has space"], "An audience is 1 to 200 printable ASCII characters"),
        (["--backchannel-logout-uri", "https://svc.example/logout"],
         "A back-channel logout URI is only for authorization_code clients."),
        (["--redirect-uri", WEB_APP, "--backchannel-logout-uri", "http://app.example.com/bc"],
         "Invalid back-channel logout URI 'http://app.example.com/bc': plain http"),
    ],
)  # fmt: skip
def test_create_explains_invalid_settings(
    runner: CliRunner, env: dict[str, str], args: list[str], message: str
) -> None:
    code, output, stderr = run(runner, "create", "App", *args)
    assert (code, output) == (1, None)
    assert stderr.startswith("error: " + message)
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr
    assert run(runner, "list")[1] == []


def test_create_refuses_a_private_key_in_the_jwks(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "private.json"
    path.write_text(json.dumps({"keys": [generate_key("ES256").private_dict()]}))
    code, output, stderr = run(runner, "create", "Signer", "--jwks-file", str(path))
    assert (code, output) == (1, None)
    assert stderr == "error: Register public keys only: no private or symmetric keys.\n"
    assert '"d"' not in stderr


def test_create_refuses_a_jwks_for_a_secret_client(
    runner: CliRunner, env: dict[str, str], public_jwks: Path
) -> None:
    code, _, stderr = run(
        runner, "create", "App", "--auth-method", "client_secret_basic",
        "--jwks-file", str(public_jwks),
    )  # fmt: skip
    assert code == 1
    assert stderr == "error: A JWK Set is only for private_key_jwt clients.\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        ("[1, 2]", "is not a JWK Set"),
        ('{"keys": "nope"}', 'A JWK Set is a JSON object {"keys": [...]}.'),
        ('{"keys": []}', "The client's JWK Set has no key."),
    ],
)
def test_create_explains_an_unusable_jwks_file(
    runner: CliRunner, env: dict[str, str], tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(content)
    code, output, stderr = run(runner, "create", "Signer", "--jwks-file", str(path))
    assert (code, output) == (1, None)
    assert stderr.startswith("error: ")
    assert message in stderr


def test_create_refuses_a_missing_jwks_file(
    runner: CliRunner, env: dict[str, str], tmp_path: Path
) -> None:
    code, _, stderr = run(runner, "create", "Signer", "--jwks-file", str(tmp_path / "nope"))
    assert code == 2  # a usage error, from the option's exists=True
    assert "does not exist" in stderr


# --- list, show, rotate-secret, delete -------------------------------------------------------


def test_list_and_show_never_print_a_secret(runner: CliRunner, env: dict[str, str]) -> None:
    first = create(runner, "One", "--id", "one")
    second = create(runner, "Two", "--id", "two", "--auth-method", "client_secret_post")
    secrets = [first.pop("client_secret"), second.pop("client_secret")]
    hashes = [hashlib.sha256(s.encode()).hexdigest() for s in secrets]

    for args in (("list",), ("show", "one"), ("show", "two")):
        result = runner.invoke(app, ["clients", *args])
        assert result.exit_code == 0, result.stderr
        for value in (*secrets, *hashes, 'client_secret"'):
            assert value not in result.stdout
            assert value not in result.stderr

    assert run(runner, "list")[1] == [first, second]
    assert run(runner, "list", "--offset", "1")[1] == [second]
    assert run(runner, "list", "--limit", "1")[1] == [first]
    assert run(runner, "show", "two")[1] == second


def test_show_an_unknown_client(runner: CliRunner, env: dict[str, str]) -> None:
    assert run(runner, "show", "ghost") == (1, None, "error: There is no client ghost.\n")


def test_rotate_secret_prints_a_new_secret_once(runner: CliRunner, env: dict[str, str]) -> None:
    old = create(runner, "Job", "--id", "job").pop("client_secret")
    code, rotated, stderr = run(runner, "rotate-secret", "job")
    assert code == 0, stderr
    assert SHOWN_ONCE in stderr
    new = rotated.pop("client_secret")
    assert new != old
    assert rotated["id"] == "job"
    assert rotated["has_secret"] is True
    assert_secret_matches(env, "job", new)
    client = stored(env, "job")
    assert client is not None
    assert client.secret_hash != hashlib.sha256(old.encode()).hexdigest()


def test_rotate_secret_refuses_clients_without_a_secret(
    runner: CliRunner, env: dict[str, str]
) -> None:
    create(runner, "Web", "--id", "web", "--auth-method", "none", "--redirect-uri", WEB_APP)
    code, output, stderr = run(runner, "rotate-secret", "web")
    assert (code, output) == (1, None)
    assert stderr == "error: Client web does not authenticate with a secret.\n"
    assert run(runner, "rotate-secret", "ghost") == (
        1, None, "error: There is no client ghost.\n"
    )  # fmt: skip


def test_delete(runner: CliRunner, env: dict[str, str]) -> None:
    create(runner, "Job", "--id", "job")
    assert run(runner, "delete", "job") == (0, {"id": "job", "deleted": True}, "")
    assert stored(env, "job") is None
    assert run(runner, "list")[1] == []
    assert run(runner, "delete", "job") == (1, None, "error: There is no client job.\n")


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["clients", "--help"])
    assert result.exit_code == 0
    for command in ("create", "list", "show", "rotate-secret", "delete"):
        assert command in result.stdout
