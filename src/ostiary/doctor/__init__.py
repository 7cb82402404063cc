"""``ostiary doctor``: check a deployment's settings, database and keys before (or while) the
server runs, one :class:`Check` per concern. Nothing is written and no secret is reported."""

from __future__ import annotations

from dataclasses import replace

from ostiary.clock import SYSTEM_CLOCK, Clock
from ostiary.doctor._check import Check, Status
from ostiary.doctor.config import CONFIG_CHECKS
from ostiary.settings import Settings

__all__ = ["Check", "Status", "exit_code", "run_checks"]


async def run_checks(settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> list[Check]:
    """Every check, settings first, then the database, the clock and the stored keys."""
    from ostiary.doctor.storage import check_storage

    checks = [check(settings) for check in CONFIG_CHECKS]
    checks += await check_storage(settings, clock=clock)
    return [scrubbed(check, secrets_of(settings)) for check in checks]


def exit_code(checks: list[Check]) -> int:
    """1 if any check failed, else 0 (warnings do not fail a deployment)."""
    return 1 if any(check.status is Status.FAIL for check in checks) else 0


def secrets_of(settings: Settings) -> list[str]:
    """The secret values among the settings: none may appear in what the doctor prints."""
    values = [
        settings.master_key,
        settings.demo_alice_password,
        settings.demo_admin_password,
        settings.demo_service_secret,
    ]
    found = [v.get_secret_value().strip() for v in values if v is not None]
    found.append(database_password(settings.database_url) or "")
    return [value for value in found if len(value) >= 4]


def database_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except ArgumentError:
        return None


def scrubbed(check: Check, secrets: list[str]) -> Check:
    """Defence in depth: a driver message that quoted a secret shows ``***`` instead."""
    found, fix = check.found, check.fix
    for secret in secrets:
        found, fix = found.replace(secret, "***"), fix.replace(secret, "***")
    return replace(check, found=found, fix=fix)
