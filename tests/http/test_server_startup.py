"""Start-up and shutdown: the master key, migrations, the signing key, SQLite and PostgreSQL
storage, the background task; and the JWKS and health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from sqlalchemy import text

from ostiary.errors import ConfigurationError
from ostiary.jose.inspect import inspect_compact
from ostiary.keys import MasterKey
from ostiary.server import create_app
from ostiary.storage import StorageError
from ostiary.storage.sql import SQLStorage, head_revision, upgrade_async
from ostiary.storage.sql.migrate import HEAD_REVISION, current_revision, upgrade_in_child

from .._postgres import PostgresUnavailable, postgres_database
from ._server import BAD_GRANT, REVOKED, Server, bearer, problem, running, settings_for


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'ostiary.db'}"


# --- the master key ----------------------------------------------------------------------


async def test_without_a_master_key_the_server_refuses_to_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, dev=False)
    app = create_app(settings)
    with pytest.raises(ConfigurationError, match="OSTIARY_MASTER_KEY is not set"):
        async with app.router.lifespan_context(app):
            pass
    assert not (tmp_path / ".ostiary").exists()


async def test_dev_mode_creates_a_private_master_key_file_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        async with running(settings_for(tmp_path)):
            pass
    path = tmp_path / ".ostiary" / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "DEV MODE" in caplog.text
    assert path.read_text().strip() not in caplog.text


async def test_a_given_master_key_is_used_and_no_file_is_made(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, dev=False, master_key=MasterKey.new_text())
    async with running(settings) as srv:
        await srv.add_user("alice")
        await srv.login()
    assert not (tmp_path / ".ostiary").exists()


# --- SQLite ------------------------------------------------------------------------------


async def test_sqlite_is_migrated_at_start_and_reused_by_the_next_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=sqlite_url(tmp_path))
    async with running(settings) as srv:
        await srv.add_user("alice")
        tokens = await srv.login()
        assert (await srv.client.get("/readyz")).status_code == 200
        kid = srv.services.keys.ring.signing_key.kid
    async with running(settings) as srv:
        assert srv.services.keys.ring.signing_key.kid == kid
        assert (await srv.profile(tokens["access_token"])).status_code == 200
        assert (await srv.refresh(tokens["refresh_token"])).status_code == 200
        await srv.login()


#: Starts the app on an already migrated SQLite file (argv: URL, key dir), asks /readyz, and
#: prints the status and whether alembic was ever imported.
NO_ALEMBIC_SCRIPT: Final = """
import asyncio, sys
import httpx
from ostiary.server import create_app
from ostiary.settings import Settings

async def main() -> None:
    settings = Settings(
        database_url=sys.argv[1], dev=True, dev_key_dir=sys.argv[2], access_log=False
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            status = (await client.get("/readyz")).status_code
    print(status, any(name.split(".")[0] == "alembic" for name in sys.modules))

asyncio.run(main())
"""


def test_the_head_revision_constant_is_alembics_head() -> None:
    assert HEAD_REVISION == head_revision()


@pytest.mark.slow
async def test_a_database_at_head_starts_and_is_ready_without_importing_alembic(
    tmp_path: Path,
) -> None:
    url = sqlite_url(tmp_path)
    await upgrade_async(url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        NO_ALEMBIC_SCRIPT,
        url,
        str(tmp_path / ".ostiary"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().split() == ["200", "False"]


def test_a_new_database_is_migrated_in_a_child_process(tmp_path: Path) -> None:
    """What ``ostiary serve`` does before its app starts: alembic loads in the child only."""
    url = sqlite_url(tmp_path)
    assert upgrade_in_child(url)
    assert asyncio.run(current_revision(url)) == HEAD_REVISION
    assert upgrade_in_child(url)  # at head: nothing to do


def test_a_failed_migration_in_the_child_is_left_to_the_caller(tmp_path: Path) -> None:
    """A revision the scripts do not know: the child fails, and says nothing; the lifespan's
    own migration then reports it as it always has."""
    url = sqlite_url(tmp_path)
    asyncio.run(upgrade_async(url))
    with contextlib.closing(sqlite3.connect(tmp_path / "ostiary.db")) as db, db:
        db.execute("UPDATE alembic_version SET version_num = 'ffff'")
    assert not upgrade_in_child(url)
    assert asyncio.run(current_revision(url)) == "ffff"
    assert not upgrade_in_child("postgresql+asyncpg://nobody@127.0.0.1:1/none")


async def test_without_auto_migrate_an_empty_database_fails_start_up(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=sqlite_url(tmp_path), auto_migrate=False)
    app = create_app(settings)
    with pytest.raises(StorageError):
        async with app.router.lifespan_context(app):
            pass


async def test_a_revocation_written_by_another_process_is_picked_up(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=sqlite_url(tmp_path))
    async with running(settings) as one, running(settings) as two:
        await one.add_user("alice")
        tokens = await one.login()
        assert (await two.profile(tokens["access_token"])).status_code == 200
        await one.client.post("/auth/logout", headers=bearer(tokens["access_token"]))
        await asyncio.sleep(settings.revocation_sync_seconds)
        refused = await two.profile(tokens["access_token"])
        assert (refused.status_code, refused.json()) == (401, REVOKED)


# --- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(postgres_database("ostiary_http"))
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
        yield url


async def test_the_flow_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    settings = settings_for(tmp_path, database_url=postgres_url)
    async with running(settings) as srv:
        assert (await srv.client.get("/readyz")).json() == {"status": "ready"}
        await srv.add_user("alice")
        first = await srv.login()
        second = (await srv.refresh(first["refresh_token"])).json()
        srv.past_refresh_grace()
        assert (await srv.refresh(first["refresh_token"])).json() == BAD_GRANT
        assert (await srv.profile(second["access_token"])).json() == REVOKED


# --- shutdown ----------------------------------------------------------------------------


async def test_the_background_task_ends_with_the_app(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path)):
        names = {t.get_name() for t in asyncio.all_tasks()}
        assert "ostiary-maintenance" in names
    assert "ostiary-maintenance" not in {t.get_name() for t in asyncio.all_tasks()}


# --- JWKS --------------------------------------------------------------------------------


async def test_the_jwks_is_public_and_cacheable(server: Server) -> None:
    response = await server.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["content-type"] == "application/jwk-set+json"
    key, id_token_key = response.json()["keys"]  # access tokens first, then ID tokens
    assert key["kid"] == server.services.keys.ring.signing_key.kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert id_token_key["kid"] == server.services.id_keys.ring.signing_key.kid
    assert (id_token_key["kty"], id_token_key["alg"]) == ("RSA", "RS256")
    for private in ("d", "p", "q", "dp", "dq", "qi"):
        assert private not in key
        assert private not in id_token_key


async def test_the_jwks_max_age_is_configurable(tmp_path: Path) -> None:
    async with running(settings_for(tmp_path, jwks_max_age=60)) as srv:
        response = await srv.client.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=60"


async def test_after_a_rotation_old_tokens_verify_and_new_ones_use_the_new_key(
    server: Server,
) -> None:
    before = await server.login()
    old_kid = server.services.keys.ring.signing_key.kid
    await server.services.keys.rotate()
    after = await server.login()
    header, _ = inspect_compact(after["access_token"])
    assert header["kid"] != old_kid
    keys = (await server.client.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys if k["alg"] == "ES256"] == [header["kid"], old_kid]
    # The ID-token keys are a set of their own: an access-token rotation leaves them alone.
    id_kid = server.services.id_keys.ring.signing_key.kid
    assert [k["kid"] for k in keys if k["alg"] == "RS256"] == [id_kid]
    for tokens in (before, after):
        assert (await server.profile(tokens["access_token"])).status_code == 200


# --- health ------------------------------------------------------------------------------


async def test_healthz_and_readyz(server: Server) -> None:
    assert (await server.client.get("/healthz")).json() == {"status": "ok"}
    assert (await server.client.get("/readyz")).json() == {"status": "ready"}


async def test_readyz_is_503_when_the_database_is_not_migrated(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, database_url=sqlite_url(tmp_path))
    async with running(settings) as srv:
        storage = srv.services.storage
        assert isinstance(storage, SQLStorage)
        await storage.db.write(lambda conn: conn.execute(text("DELETE FROM alembic_version")))
        response = await srv.client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == problem(
        503, "Service Unavailable", "The database schema is not migrated."
    )
    assert response.headers["retry-after"] == "5"
