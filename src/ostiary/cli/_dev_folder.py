"""The folder where ``ostiary serve --demo`` (or ``--dev``) ran, e.g. by ``make run``: dev mode
left its generated master key there (``.ostiary/master.key``) beside its SQLite database
(``./ostiary.db``). The operator commands run from that folder use both, in dev mode, as the
server did; otherwise ``ostiary keys rotate`` after ``make run`` would ask for a master key
that no new one can replace.

Only when nothing says otherwise, and never for a database elsewhere:

- ``OSTIARY_MASTER_KEY`` is unset, and ``OSTIARY_DEV``/``OSTIARY_DEMO`` are not set at all
  (``OSTIARY_DEV=false`` keeps a command out of dev mode);
- the key file exists already: nothing here makes one;
- the database is a SQLite file that exists in this folder (or below it). A PostgreSQL
  database, or a SQLite file anywhere else, is never opened with a dev key: a production
  database could otherwise get signing keys sealed with a key lying about in a checkout.

``ostiary serve`` itself never adopts a folder: a server in dev mode is only ever asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from ostiary.keys.master_file import MASTER_KEY_FILE

if TYPE_CHECKING:
    from ostiary.settings import Settings

ADOPTED: Final = (
    "this folder holds a dev/demo setup ({key} beside {database}) and OSTIARY_MASTER_KEY is "
    "unset: using them in dev mode, as `ostiary serve --demo` does (OSTIARY_DEV=false turns "
    "this off)"
)
NOT_THIS_DATABASE: Final = (
    "{key} here is a dev key: it is used only with a SQLite database in this folder, never "
    "with another one"
)


def dev_key_file(settings: Settings) -> Path:
    return settings.dev_key_dir / MASTER_KEY_FILE


def is_dev_folder(settings: Settings, *, here: Path | None = None) -> bool:
    """Whether a command with ``settings``, run in ``here`` (the working folder), works on the
    dev/demo setup of that folder (see the module's docstring)."""
    return _left_open(settings) and has_local_database(settings, here=here)


def has_stray_dev_key(settings: Settings, *, here: Path | None = None) -> bool:
    """A dev key file that :func:`is_dev_folder` leaves alone because of the database."""
    return _left_open(settings) and not has_local_database(settings, here=here)


def _left_open(settings: Settings) -> bool:
    """No master key and no mode chosen, and the dev key file exists."""
    chosen = {"master_key", "dev", "demo"} & settings.model_fields_set
    if chosen or settings.master_key is not None or settings.dev_mode:
        return False
    return dev_key_file(settings).is_file()


def has_local_database(settings: Settings, *, here: Path | None = None) -> bool:
    """Whether the database is a SQLite file that exists in ``here`` or below it."""
    path = local_database(settings)
    if path is None:
        return False
    folder = (here or Path.cwd()).resolve()
    return path.is_file() and path.resolve().is_relative_to(folder)


def local_database(settings: Settings) -> Path | None:
    """The file of a SQLite database (as the URL names it); None for any other."""
    from sqlalchemy.engine import make_url  # only when a command opens storage
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def in_dev_mode(settings: Settings) -> Settings:
    """``settings`` with dev mode on, as ``OSTIARY_DEV=true`` would have them."""
    return settings.model_copy(update={"dev": True})
