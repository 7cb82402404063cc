"""``Settings``: read from ``OSTIARY_*`` once, frozen, validated, secrets kept out of reprs."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsError

from ostiary.keys import GENERATED_ALGORITHMS
from ostiary.server import create_app
from ostiary.settings import Settings, SigningAlg

from ._server import settings_for


def test_the_defaults() -> None:
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///./ostiary.db"
    assert (settings.issuer, settings.audience, settings.client_id) == (
        "http://127.0.0.1:8000",
        "api",
        "ostiary",
    )
    assert (settings.access_token_ttl, settings.refresh_absolute_ttl) == (900, 30 * 86_400)
    assert (settings.refresh_idle_ttl, settings.refresh_grace_seconds) == (7 * 86_400, 10)
    assert (settings.signing_alg, settings.key_rotation_days, settings.jwks_max_age) == (
        "ES256",
        30,
        300,
    )
    assert (settings.argon2_memory_kib, settings.argon2_time_cost) == (19456, 2)
    assert settings.argon2_parallelism == 1
    assert settings.password_min_length == 12
    assert settings.max_body_bytes == 65_536
    assert settings.registration_enabled and settings.auto_migrate
    assert not settings.dev_mode and not settings.include_username_claim
    assert settings.master_key is None
    assert settings.dev_key_dir == Path(".ostiary")


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OSTIARY_ISSUER", "https://auth.example.com")
    monkeypatch.setenv("OSTIARY_ACCESS_TOKEN_TTL", "300")
    monkeypatch.setenv("OSTIARY_REGISTRATION_ENABLED", "false")
    monkeypatch.setenv("OSTIARY_ROLE_SCOPES", '{"admin": "reports:read reports:write"}')
    monkeypatch.setenv("OSTIARY_MASTER_KEY", "secret-master-key-text")
    settings = Settings()
    assert settings.issuer == "https://auth.example.com"
    assert settings.access_token_ttl == 300
    assert not settings.registration_enabled
    assert settings.scope_for(frozenset({"admin"})) == "profile reports:read reports:write"
    assert "secret-master-key-text" not in repr(settings)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.issuer = "http://elsewhere"


def test_demo_implies_dev() -> None:
    assert Settings(demo=True).dev_mode
    assert Settings(dev=True).dev_mode


def test_scope_for_roles() -> None:
    settings = Settings(role_scopes={"admin": "reports:read", "ops": "metrics:read"})
    assert settings.scope_for(frozenset()) == "profile"
    assert settings.scope_for(frozenset({"user"})) == "profile"
    assert settings.scope_for(frozenset({"admin", "ops"})) == "metrics:read profile reports:read"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OSTIARY_ACCESS_TOKEN_TTL", "0"),
        ("OSTIARY_ACCESS_TOKEN_TTL", "abc"),
        ("OSTIARY_SIGNING_ALG", "none"),
        ("OSTIARY_SIGNING_ALG", "HS1"),
        ("OSTIARY_ISSUER", " "),
        ("OSTIARY_DEFAULT_SCOPE", 'bad"scope'),
        ("OSTIARY_ROLE_SCOPES", "not json"),
        ("OSTIARY_PASSWORD_MIN_LENGTH", "4"),
        ("OSTIARY_REFRESH_IDLE_TTL", str(60 * 86_400)),
        ("OSTIARY_KEY_ROTATION_DAYS", "0.001"),
        ("OSTIARY_MAX_BODY_BYTES", "10"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises((ValidationError, SettingsError)):  # the latter for malformed JSON
        Settings()


def test_the_signing_algorithms_are_those_keys_are_generated_for() -> None:
    assert get_args(SigningAlg) == GENERATED_ALGORITHMS


@pytest.mark.parametrize("path", ["/auth", "/admin", "/oauth/userinfo", "/auth/revocations"])
def test_the_api_audience_is_never_one_of_the_servers_own(path: str) -> None:
    with pytest.raises(ValidationError, match="the server's own"):
        Settings(issuer="https://auth.example.com", audience=f"https://auth.example.com{path}")


def test_fastapis_opentelemetry_is_off_unless_asked(tmp_path: Path) -> None:
    """Off by default (no provider lookups per request); OSTIARY_OPENTELEMETRY turns
    FastAPI's own instrumentation back on, with FastAPI's defaults."""
    off = create_app(settings_for(tmp_path))
    assert not any(off._telemetry[kind] for kind in ("tracing", "metrics", "logs"))
    on = create_app(settings_for(tmp_path, opentelemetry=True))
    assert all(on._telemetry[kind] for kind in ("tracing", "metrics", "logs"))
