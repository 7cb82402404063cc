"""Where the master key comes from: ``OSTIARY_MASTER_KEY``, or in dev/demo mode a file that is
created on first start. Without either the server must not start: the signing keys it would
generate could never be opened again."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Final

from ostiary.errors import ConfigurationError
from ostiary.keys.encryption import MasterKey

MASTER_KEY_FILE: Final = "master.key"
GENERATE_HINT: Final = (
    "Generate one with `ostiary keys master-key` or with\n"
    '  python -c "import base64, os; '
    "print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode())\"\n"
    "and set it as OSTIARY_MASTER_KEY (keep it secret and keep a copy: without it the stored "
    "signing keys cannot be opened)."
)

logger = logging.getLogger(__name__)


def load_or_create_master_key(value: str | None, *, dev_dir: Path | None) -> MasterKey:
    """The master key from ``value`` (the text of ``OSTIARY_MASTER_KEY``); without one and in
    dev mode, the one in ``dev_dir/master.key``, created (mode 0600) if absent."""
    if value is not None and value.strip():
        return MasterKey.from_text(value)
    if dev_dir is None:
        raise ConfigurationError("OSTIARY_MASTER_KEY is not set. " + GENERATE_HINT)
    path = dev_dir / MASTER_KEY_FILE
    if not path.exists():
        _create(path)
    elif path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is readable by other users; chmod 600 it", path)
    logger.warning(
        "DEV MODE: the master key is read from %s, not from OSTIARY_MASTER_KEY. Anyone who can "
        "read that file can open the signing keys. Never run like this in production.",
        path,
    )
    return MasterKey.from_text(path.read_text(encoding="ascii"))


def _create(path: Path) -> None:
    """Write a new key so that the file appears whole or not at all: two processes starting
    at once both end up with the one that was linked first."""
    directory = path.parent
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".master.key.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(MasterKey.new_text() + "\n")
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
