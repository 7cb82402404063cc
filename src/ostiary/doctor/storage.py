"""The checks of ``ostiary doctor`` that read the database: reachable and migrated, its clock
against ours, and the stored signing keys opened with the master key. Nothing is written: a
missing SQLite file is reported, not created, and no key is generated."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError

from ostiary.clock import Clock
from ostiary.doctor._check import Check, Status, failed, passed, warned
from ostiary.errors import OstiaryError
from ostiary.jose import JWK
from ostiary.keys.encryption import MasterKey
from ostiary.keys.master_file import MASTER_KEY_FILE
from ostiary.settings import Settings
from ostiary.storage import MEMORY_URL, StorageError
from ostiary.storage.records import KeyStatus, StoredKey
from ostiary.storage.sql import Database, SQLStorage, current_revision
from ostiary.storage.sql.migrate import HEAD_REVISION

#: How long the database may take to answer before it counts as unreachable.
DATABASE_TIMEOUT: Final = 10.0
#: A clock before this year is unset or reset (a board without a battery, a broken NTP).
MIN_PLAUSIBLE_YEAR: Final = 2025
MAX_PLAUSIBLE_YEAR: Final = 2100
PERSISTENT_URL_FIX: Final = "set OSTIARY_DATABASE_URL to sqlite:///path or postgresql://..."


async def check_storage(settings: Settings, *, clock: Clock) -> list[Check]:
    """The database, the clock and the stored keys; a database that cannot be read skips the
    checks that need it."""
    url = settings.database_url
    if url == MEMORY_URL:
        found = "memory://: nothing persists, a restart loses every user, session and key"
        return [warned("database", found, PERSISTENT_URL_FIX), check_clock(None, clock=clock)]
    precheck = check_database_url(url, auto_migrate=settings.auto_migrate)
    if precheck is not None:
        return [precheck, check_clock(None, clock=clock)]
    try:
        storage = SQLStorage.from_url(url)
    except OstiaryError as exc:
        return [failed("database", exc.description, PERSISTENT_URL_FIX)]
    where = hide_password(url)
    stored: Sequence[StoredKey] | None = None
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            database = await check_database(storage.db, where=where, settings=settings)
            skew = await database_skew(storage.db, clock=clock)
            if database.status is Status.PASS:  # the key table is there to read
                stored = await storage.keys.list()
    except TimeoutError:
        found = f"{where}: no answer within {DATABASE_TIMEOUT:g} s"
        unreachable = failed("database", found, "check the host, port and firewall")
        return [unreachable, check_clock(None, clock=clock)]
    except (StorageError, OstiaryError) as exc:
        unreachable = failed("database", f"{where}: {exc}", "check the URL and the server")
        return [unreachable, check_clock(None, clock=clock)]
    finally:
        await storage.close()
    checks = [database, check_clock(skew, clock=clock, leeway=settings.leeway)]
    if stored is not None:
        master = usable_master_key(settings)
        checks.append(check_stored_keys(stored, master, settings=settings))
        checks.append(check_active_keys(stored, settings=settings))
    return checks


def hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def check_database_url(url: str, *, auto_migrate: bool) -> Check | None:
    """A SQLite URL that keeps nothing, or whose file does not exist yet; None otherwise."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return failed("database", "OSTIARY_DATABASE_URL cannot be parsed", PERSISTENT_URL_FIX)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:"):
        found = f"{hide_password(url)}: an in-memory SQLite database, nothing persists"
        return warned("database", found, PERSISTENT_URL_FIX)
    if Path(parsed.database).exists():
        return None
    found = f"{parsed.database} does not exist"
    if auto_migrate:
        return warned("database", f"{found} yet; the server creates it at start", "")
    return failed("database", found, "run `ostiary db upgrade`")


async def check_database(db: Database, *, where: str, settings: Settings) -> Check:
    """Reachable, and at the schema revision this version of Ostiary expects."""
    name = "database"
    try:
        revision = await current_revision(db)
    except RuntimeError as exc:  # several rows in alembic_version
        return failed(name, f"{where}: {exc}", "repair the alembic_version table")
    if revision == HEAD_REVISION:
        return passed(name, f"{where} ({db.dialect}), migrated to revision {revision}")
    found = f"{where}: at revision {revision or 'none'}, this version needs {HEAD_REVISION}"
    if settings.auto_migrate:
        return warned(name, f"{found} (the server migrates at start)", "`ostiary db upgrade`")
    return failed(name, found, "run `ostiary db upgrade` (OSTIARY_AUTO_MIGRATE is off)")


async def database_skew(db: Database, *, clock: Clock) -> float | None:
    """Our clock minus PostgreSQL's, in seconds; None for SQLite (it has no clock of its own)."""
    if db.dialect != "postgresql":
        return None

    def server_time(conn: Connection) -> float:
        return float(
            conn.execute(text("SELECT extract(epoch from clock_timestamp())")).scalar_one()
        )

    before = clock.now()
    theirs = await db.read(server_time)
    ours = (before + clock.now()) / 2  # the query's midpoint: half the round trip each way
    return ours - theirs


def check_clock(skew: float | None, *, clock: Clock, leeway: int = 0) -> Check:
    """Our clock shows a plausible year and, for PostgreSQL, agrees with the database's within
    half the leeway (tokens are checked across machines with that leeway)."""
    name = "clock"
    year = time.gmtime(clock.now()).tm_year
    fix = "sync the clock with NTP (chrony, systemd-timesyncd)"
    if not MIN_PLAUSIBLE_YEAR <= year < MAX_PLAUSIBLE_YEAR:
        return failed(name, f"this machine's clock says the year is {year}", fix)
    if skew is None:
        return passed(name, f"year {year}")
    found = f"{abs(skew):.2f} s from the database server's clock"
    if abs(skew) > max(leeway / 2, 1.0):
        return warned(name, f"{found}, over half the leeway ({leeway} s)", fix)
    return passed(name, found)


def usable_master_key(settings: Settings) -> MasterKey | None:
    """The master key the server would use, without creating the dev-mode file."""
    try:
        if settings.master_key is not None:
            return MasterKey.from_text(settings.master_key.get_secret_value())
        path = settings.dev_key_dir / MASTER_KEY_FILE
        if settings.dev_mode and path.is_file():
            return MasterKey.from_text(path.read_text(encoding="ascii"))
    except (OstiaryError, OSError, UnicodeDecodeError):
        return None
    return None


def check_stored_keys(
    stored: Sequence[StoredKey], master: MasterKey | None, *, settings: Settings
) -> Check:
    """Every stored key opens with the master key and is of the type and size its alg needs."""
    name = "stored keys"
    if not stored:
        return passed(name, "none yet (the server makes them at first start)")
    if master is None:
        return warned(name, f"{len(stored)} keys, not opened: no usable master key", "see above")
    problems: list[str] = []
    small: list[str] = []
    seen: list[str] = []
    for record in stored:
        label = f"{record.kid[:12]} ({record.status.value})"
        try:
            key = master.open_key(record.sealed, kid=record.kid)
        except (OstiaryError, ValueError) as exc:
            problems.append(f"{label}: {getattr(exc, 'description', 'unreadable')}")
            continue
        if key.alg != record.alg:
            problems.append(f"{label}: stored as {record.alg}, the key is {key.alg}")
        bits = rsa_bits(key)
        if bits is not None and bits < settings.rsa_key_bits and record.status != KeyStatus.RETIRED:
            small.append(f"{label}: {bits} bits")
        seen.append(f"{record.status.value} {key.alg} {describe_size(key)}")
    if problems:
        return failed(
            name,
            "; ".join(problems),
            "set the master key these keys were sealed with, or `ostiary keys rotate`",
        )
    if small:
        found = f"RSA keys under OSTIARY_RSA_KEY_BITS={settings.rsa_key_bits}: {'; '.join(small)}"
        return warned(name, found, "`ostiary keys rotate` to replace them")
    return passed(name, f"{len(stored)} open with the master key: {', '.join(seen)}")


def rsa_bits(key: JWK) -> int | None:
    if key.kty != "RSA":
        return None
    return int.from_bytes(b64url_decode(key.public_dict()["n"]), "big").bit_length()


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def describe_size(key: JWK) -> str:
    """The key's size or curve, never its material."""
    bits = rsa_bits(key)
    if bits is not None:
        return f"{bits}-bit"
    if key.is_symmetric:
        return f"{len(b64url_decode(key.private_dict()['k'])) * 8}-bit secret"
    return str(key.public_dict().get("crv", key.kty))


def check_active_keys(stored: Sequence[StoredKey], *, settings: Settings) -> Check:
    """An active key of the configured algorithm for access tokens and for ID tokens."""
    name = "active keys"
    active = [k for k in stored if k.status == KeyStatus.ACTIVE]
    if not stored:
        return warned(
            name, "no signing keys yet", "start the server once, or `ostiary keys rotate`"
        )
    wanted = {"access tokens": settings.signing_alg, "ID tokens": settings.id_token_signing_alg}
    found: list[str] = []
    wrong: list[str] = []
    for role, alg in wanted.items():
        mine = [k for k in active if k.alg == alg]
        if mine:
            found.append(f"{role}: {alg} {mine[0].kid[:12]}")
        else:
            wrong.append(f"{role}: no active {alg} key")
    if wrong:
        others = ", ".join(sorted({k.alg for k in active})) or "none"
        return warned(
            name,
            f"{'; '.join(wrong)} (active: {others})",
            "`ostiary keys rotate` (or restart the server) to make one",
        )
    return passed(name, "; ".join(found))
