"""SQLStorage: every store on one SQLAlchemy engine."""

from __future__ import annotations

from ostiary.storage.protocols import (
    AuditStore,
    AuthorizationCodeStore,
    BrowserSessionStore,
    ClientStore,
    ConsentStore,
    KeyStore,
    LeaseStore,
    OnceStore,
    RevocationStore,
    SessionStore,
    UserStore,
)
from ostiary.storage.sql.audit import SQLAuditStore
from ostiary.storage.sql.browser_sessions import SQLBrowserSessionStore
from ostiary.storage.sql.clients import SQLClientStore
from ostiary.storage.sql.codes import SQLAuthorizationCodeStore
from ostiary.storage.sql.consents import SQLConsentStore
from ostiary.storage.sql.engine import POSTGRES_POOL_SIZE, Database, open_database
from ostiary.storage.sql.keys import SQLKeyStore
from ostiary.storage.sql.leases import SQLLeaseStore
from ostiary.storage.sql.once import SQLOnceStore
from ostiary.storage.sql.revocations import SQLRevocationStore
from ostiary.storage.sql.sessions import SQLSessionStore
from ostiary.storage.sql.users import SQLUserStore


class SQLStorage:
    """The stores on SQLite or PostgreSQL. The schema must be migrated first
    (:func:`ostiary.storage.sql.upgrade`); :meth:`close` disposes of the engine."""

    def __init__(self, db: Database) -> None:
        #: Where the stores run their transactions; also for administrative work.
        self.db = db
        self.users: UserStore = SQLUserStore(db)
        self.sessions: SessionStore = SQLSessionStore(db)
        self.revocations: RevocationStore = SQLRevocationStore(db)
        self.keys: KeyStore = SQLKeyStore(db)
        self.leases: LeaseStore = SQLLeaseStore(db)
        self.clients: ClientStore = SQLClientStore(db)
        self.codes: AuthorizationCodeStore = SQLAuthorizationCodeStore(db)
        self.browser_sessions: BrowserSessionStore = SQLBrowserSessionStore(db)
        self.consents: ConsentStore = SQLConsentStore(db)
        self.once: OnceStore = SQLOnceStore(db)
        self.audit: AuditStore = SQLAuditStore(db)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = POSTGRES_POOL_SIZE) -> SQLStorage:
        return cls(open_database(url, pool_size=pool_size))

    async def close(self) -> None:
        await self.db.dispose()
