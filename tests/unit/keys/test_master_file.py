"""``load_or_create_master_key``: the environment, dev mode's file, or a clear refusal."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from ostiary.errors import ConfigurationError
from ostiary.keys import MasterKey
from ostiary.keys.service import load_or_create_master_key


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_value_is_used_as_is(tmp_path: Path) -> None:
    text = MasterKey.new_text()
    key = load_or_create_master_key(f" {text}\n", dev_dir=tmp_path)
    assert key.key_id == MasterKey.from_text(text).key_id
    assert list(tmp_path.iterdir()) == []


def test_a_bad_value_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        load_or_create_master_key("not base64url!", dev_dir=None)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_without_a_key_or_dev_mode_the_message_says_how_to_make_one(value: str | None) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_or_create_master_key(value, dev_dir=None)
    message = caught.value.description
    assert "OSTIARY_MASTER_KEY" in message
    assert "ostiary keys master-key" in message and "python -c" in message


def test_dev_mode_creates_a_private_file_once_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dev_dir = tmp_path / ".ostiary"
    with caplog.at_level(logging.WARNING):
        first = load_or_create_master_key(None, dev_dir=dev_dir)
    path = dev_dir / "master.key"
    assert (mode(dev_dir), mode(path)) == (0o700, 0o600)
    assert "DEV MODE" in caplog.text
    assert path.read_text().strip() not in caplog.text
    assert load_or_create_master_key(None, dev_dir=dev_dir).key_id == first.key_id
    assert [p.name for p in dev_dir.iterdir()] == ["master.key"]  # no temporary left


def test_dev_mode_warns_about_a_file_others_can_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "master.key"
    path.write_text(MasterKey.new_text())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        load_or_create_master_key(None, dev_dir=tmp_path)
    assert "chmod 600" in caplog.text
