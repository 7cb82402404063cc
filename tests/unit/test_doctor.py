"""``ostiary.doctor``: each check's PASS, WARN and FAIL branches, on constructed settings."""

from __future__ import annotations

import base64
import operator
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from ostiary.clock import DAY, FrozenClock
from ostiary.doctor import Check, Status, exit_code, run_checks, scrubbed, secrets_of
from ostiary.doctor import config as c
from ostiary.doctor import storage as s
from ostiary.keys import MasterKey
from ostiary.keys.service import KeyService
from ostiary.settings import Settings
from ostiary.storage import open_storage
from ostiary.storage.sql import upgrade_async

HTTPS = "https://auth.example.com"
NOW = 1_790_000_000.0  # 2026
MASTER = MasterKey.new_text()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("OSTIARY_"):
            monkeypatch.delenv(name)


def prod(**overrides: Any) -> Settings:
    """A production deployment that passes every settings check but rate limits."""
    values: dict[str, Any] = {
        "issuer": HTTPS,
        "master_key": MASTER,
        "registration_enabled": False,
        "database_url": "memory://",
    }
    return Settings(**{**values, **overrides})


def status(check: Callable[[Settings], Check], settings: Settings) -> Status:
    return check(settings).status


# --- issuer and mode -----------------------------------------------------------------------


def test_issuer() -> None:
    assert status(c.check_issuer, prod()) is Status.PASS
    assert status(c.check_issuer, prod(issuer="http://127.0.0.1:8000")) is Status.WARN
    assert status(c.check_issuer, prod(issuer="http://localhost:8000")) is Status.WARN
    assert status(c.check_issuer, prod(issuer="http://auth.test", dev=True)) is Status.WARN
    check = c.check_issuer(prod(issuer="http://auth.example.com"))
    assert check.status is Status.FAIL
    assert "OSTIARY_ISSUER" in check.fix


def test_dev_and_demo_mode() -> None:
    assert status(c.check_mode, prod()) is Status.PASS
    assert status(c.check_mode, prod(dev=True, issuer="http://127.0.0.1:8000")) is Status.WARN
    check = c.check_mode(prod(demo=True))
    assert check.status is Status.FAIL
    assert "demo mode" in check.found


# --- master key ----------------------------------------------------------------------------


def test_master_key_set_and_random_passes_without_showing_it() -> None:
    check = c.check_master_key(prod())
    assert check.status is Status.PASS
    assert MASTER not in check.found + check.fix


def test_master_key_missing() -> None:
    assert status(c.check_master_key, prod(master_key=None)) is Status.FAIL
    check = c.check_master_key(prod(master_key=None, dev=True))
    assert check.status is Status.WARN
    assert "master.key" in check.found


@pytest.mark.parametrize(
    "text",
    [
        "not base64 at all!",
        base64.urlsafe_b64encode(os.urandom(16)).decode(),  # too short
        base64.urlsafe_b64encode(bytes(32)).decode(),  # all zero
    ],
)
def test_master_key_invalid(text: str) -> None:
    check = c.check_master_key(prod(master_key=text))
    assert check.status is Status.FAIL
    assert text not in check.found


def test_master_key_too_regular_to_be_random() -> None:
    regular = base64.urlsafe_b64encode(bytes(range(16)) * 2).decode()  # MasterKey accepts it
    MasterKey.from_text(regular)
    assert status(c.check_master_key, prod(master_key=regular)) is Status.WARN


# --- algorithms and key sizes --------------------------------------------------------------


def test_signing_alg() -> None:
    assert status(c.check_signing_alg, prod()) is Status.PASS
    check = c.check_signing_alg(prod(signing_alg="HS256"))
    assert check.status is Status.WARN
    assert "JWKS" in check.found


def test_rsa_bits() -> None:
    assert status(c.check_rsa_bits, prod(signing_alg="RS256")) is Status.PASS
    assert "no RSA" in c.check_rsa_bits(prod(id_token_signing_alg="ES256")).found
    weak = prod(signing_alg="PS256").model_copy(update={"rsa_key_bits": 1024})
    assert status(c.check_rsa_bits, weak) is Status.FAIL


# --- lifetimes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected"), [(900, Status.PASS), (1800, Status.WARN), (7200, Status.FAIL)]
)
def test_access_token_ttl(ttl: int, expected: Status) -> None:
    assert status(c.check_access_ttl, prod(access_token_ttl=ttl)) is expected


@pytest.mark.parametrize(
    ("absolute", "idle", "expected"),
    [
        (30 * DAY, 7 * DAY, Status.PASS),
        (120 * DAY, 7 * DAY, Status.WARN),
        (400 * DAY, 7 * DAY, Status.FAIL),
        (600, 600, Status.WARN),  # not above the access-token lifetime
        (7 * DAY, 7 * DAY, Status.WARN),  # no idle timeout
    ],
)
def test_refresh_ttl(absolute: int, idle: int, expected: Status) -> None:
    settings = prod(refresh_absolute_ttl=absolute, refresh_idle_ttl=idle)
    assert status(c.check_refresh_ttl, settings) is expected


def test_leeway() -> None:
    assert status(c.check_leeway, prod(leeway=60)) is Status.PASS
    assert status(c.check_leeway, prod(leeway=120)) is Status.WARN


# --- browser-facing settings ---------------------------------------------------------------


def test_cookies() -> None:
    assert status(c.check_cookies, prod()) is Status.PASS
    local_dev = prod(issuer="http://127.0.0.1:8000", dev=True)
    assert status(c.check_cookies, local_dev) is Status.WARN
    assert status(c.check_cookies, prod(issuer="http://127.0.0.1:8000")) is Status.FAIL
    assert status(c.check_cookies, prod(issuer="http://auth.example.com")) is Status.FAIL


def with_setting(settings: Settings, **values: object) -> Settings:
    """``settings`` with fields set without validation: the checks of settings that other
    features add (CORS, rate limits) are tested whether or not this tree has them yet."""
    return settings.model_copy(update=values)


@pytest.fixture
def settings_have_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "has_setting", lambda settings, name: True)


@pytest.fixture
def settings_lack_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "has_setting", lambda settings, name: False)


@pytest.mark.usefixtures("settings_lack_them")
def test_cors_not_configured() -> None:
    check = c.check_cors(prod())
    assert check.status is Status.PASS
    assert "not configured" in check.found


@pytest.mark.usefixtures("settings_have_them")
@pytest.mark.parametrize(
    ("origins", "expected"),
    [
        ([], Status.PASS),
        (["https://app.example.com"], Status.PASS),
        ("https://a.example.com, https://b.example.com", Status.PASS),
        (["http://localhost:3000"], Status.WARN),
        (["https://app.example.com", "http://app.example.com"], Status.FAIL),
        (["*"], Status.FAIL),
    ],
)
def test_cors(origins: object, expected: Status) -> None:
    assert status(c.check_cors, with_setting(prod(), cors_origins=origins)) is expected


def test_cors_on_this_tree_settings() -> None:
    if c.has_setting(Settings(), "cors_origins"):
        settings = prod(cors_origins=["http://app.example.com"])
        assert status(c.check_cors, settings) is Status.FAIL
    else:
        assert "not configured" in c.check_cors(prod()).found


@pytest.mark.usefixtures("settings_lack_them")
def test_rate_limits_not_configured() -> None:
    check = c.check_rate_limits(prod())
    assert check.status is Status.WARN
    assert check.found == "no rate limiting configured"


@pytest.mark.usefixtures("settings_have_them")
def test_rate_limits_on_and_off() -> None:
    on, off = (with_setting(prod(), rate_limits_enabled=value) for value in (True, False))
    assert status(c.check_rate_limits, on) is Status.PASS
    assert status(c.check_rate_limits, off) is Status.WARN


def test_registration() -> None:
    assert status(c.check_registration, prod()) is Status.PASS
    assert status(c.check_registration, prod(registration_enabled=True)) is Status.WARN
    dev = prod(registration_enabled=True, dev=True, issuer="http://127.0.0.1:8000")
    assert status(c.check_registration, dev) is Status.PASS


# --- database, clock, stored keys ----------------------------------------------------------


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


async def test_memory_storage_warns() -> None:
    checks = by_name(await s.check_storage(prod(), clock=FrozenClock(NOW)))
    assert checks["database"].status is Status.WARN
    assert checks["clock"].status is Status.PASS


@pytest.mark.parametrize(("auto", "expected"), [(True, Status.WARN), (False, Status.FAIL)])
async def test_missing_sqlite_file_is_reported_not_created(
    tmp_path: Path, auto: bool, expected: Status
) -> None:
    path = tmp_path / "absent.db"
    settings = prod(database_url=f"sqlite:///{path}", auto_migrate=auto)
    checks = by_name(await s.check_storage(settings, clock=FrozenClock(NOW)))
    assert checks["database"].status is expected
    assert not path.exists()


async def test_in_memory_sqlite_warns() -> None:
    check = s.check_database_url("sqlite://", auto_migrate=True)
    assert check is not None
    assert check.status is Status.WARN


@pytest.mark.parametrize(("auto", "expected"), [(True, Status.WARN), (False, Status.FAIL)])
async def test_unmigrated_database(tmp_path: Path, auto: bool, expected: Status) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    settings = prod(database_url=f"sqlite:///{path}", auto_migrate=auto)
    checks = by_name(await s.check_storage(settings, clock=FrozenClock(NOW)))
    assert checks["database"].status is expected
    assert "revision none" in checks["database"].found
    assert "stored keys" not in checks


async def migrated(tmp_path: Path, *algs: str, master: str = MASTER, bits: int = 2048) -> str:
    """A migrated SQLite file holding an active key of each of ``algs``."""
    url = f"sqlite:///{tmp_path / 'ostiary.db'}"
    await upgrade_async(url)
    storage = await open_storage(url)
    try:
        for alg in algs:
            service = KeyService(
                storage.keys,
                storage.leases,
                MasterKey.from_text(master),
                alg=alg,
                retire_after=1000,
                rsa_bits=bits,
                lease_name=f"lease-{alg}",
                owns=partial(operator.eq, alg),
            )
            await service.ensure_signing_key()
    finally:
        await storage.close()
    return url


async def test_migrated_database_with_keys_passes(tmp_path: Path) -> None:
    url = await migrated(tmp_path, "ES256", "RS256")
    settings = prod(database_url=url, rsa_key_bits=2048)
    checks = by_name(await s.check_storage(settings, clock=FrozenClock(NOW)))
    assert {name: check.status for name, check in checks.items()} == {
        "database": Status.PASS,
        "clock": Status.PASS,
        "stored keys": Status.PASS,
        "active keys": Status.PASS,
    }
    assert "P-256" in checks["stored keys"].found
    assert "2048-bit" in checks["stored keys"].found


async def test_keys_sealed_under_another_master_key_fail(tmp_path: Path) -> None:
    url = await migrated(tmp_path, "ES256", "RS256", master=MasterKey.new_text())
    checks = by_name(await s.check_storage(prod(database_url=url), clock=FrozenClock(NOW)))
    assert checks["stored keys"].status is Status.FAIL
    assert "wrong master key" in checks["stored keys"].found


async def test_rsa_keys_smaller_than_configured_warn(tmp_path: Path) -> None:
    url = await migrated(tmp_path, "ES256", "RS256")
    settings = prod(database_url=url, rsa_key_bits=3072)
    checks = by_name(await s.check_storage(settings, clock=FrozenClock(NOW)))
    assert checks["stored keys"].status is Status.WARN


async def test_no_active_key_of_the_configured_alg_warns(tmp_path: Path) -> None:
    url = await migrated(tmp_path, "ES256", "RS256")
    settings = prod(database_url=url, signing_alg="EdDSA")
    check = by_name(await s.check_storage(settings, clock=FrozenClock(NOW)))["active keys"]
    assert check.status is Status.WARN
    assert "no active EdDSA key" in check.found


async def test_no_keys_yet(tmp_path: Path) -> None:
    url = await migrated(tmp_path)
    checks = by_name(await s.check_storage(prod(database_url=url), clock=FrozenClock(NOW)))
    assert checks["stored keys"].status is Status.PASS
    assert checks["active keys"].status is Status.WARN


async def test_unreachable_database_fails_without_its_password() -> None:
    url = "postgresql://ostiary:hunter2-secret@127.0.0.1:1/ostiary"
    checks = await s.check_storage(prod(database_url=url), clock=FrozenClock(NOW))
    assert checks[0].status is Status.FAIL
    assert all("hunter2" not in check.found + check.fix for check in checks)


def test_clock() -> None:
    assert s.check_clock(None, clock=FrozenClock(NOW)).status is Status.PASS
    assert s.check_clock(None, clock=FrozenClock(0)).status is Status.FAIL
    assert s.check_clock(0.2, clock=FrozenClock(NOW), leeway=30).status is Status.PASS
    assert s.check_clock(-20.0, clock=FrozenClock(NOW), leeway=30).status is Status.WARN


# --- the whole run -------------------------------------------------------------------------


async def test_run_checks_and_exit_code() -> None:
    checks = await run_checks(prod(), clock=FrozenClock(NOW))
    assert [check.name for check in checks][:3] == ["issuer", "mode", "master key"]
    assert exit_code(checks) == 0
    failing = await run_checks(prod(master_key=None), clock=FrozenClock(NOW))
    assert exit_code(failing) == 1


def test_scrubbed_hides_every_secret() -> None:
    settings = prod(database_url="postgresql://u:pa55word@db/x")
    assert set(secrets_of(settings)) == {MASTER, "pa55word"}
    check = scrubbed(Check("x", Status.FAIL, f"saw {MASTER}", "pa55word"), secrets_of(settings))
    assert check == Check("x", Status.FAIL, "saw ***", "***")
