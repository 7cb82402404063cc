"""``ostiary dev-cert``: a self-signed server certificate for localhost and its 0600 key."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from typer.testing import CliRunner

from ostiary.cli.app import app
from ostiary.cli.devcert import CERT_FILE, KEY_FILE


def make(runner: CliRunner, out: Path, *hosts: str) -> str:
    flags = [item for host in hosts for item in ("--host", host)]
    result = runner.invoke(app, ["dev-cert", "--out", str(out), *flags])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def load(out: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate((out / CERT_FILE).read_bytes())


def test_a_self_signed_server_certificate_for_the_loopback_names(
    runner: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "tls"
    make(runner, out)
    certificate = load(out)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert certificate.issuer == certificate.subject
    constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and not constraints.value.ca  # trusting it trusts nothing else
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    certificate.verify_directly_issued_by(certificate)


def test_the_key_is_the_certificates_and_readable_by_the_owner_only(
    runner: CliRunner, tmp_path: Path
) -> None:
    make(runner, tmp_path)
    key_path = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.PEM, public) == load(
        tmp_path
    ).public_key().public_bytes(serialization.Encoding.PEM, public)


def test_a_second_run_replaces_both_and_narrows_a_loose_key_file(
    runner: CliRunner, tmp_path: Path
) -> None:
    make(runner, tmp_path)
    first = load(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    make(runner, tmp_path)
    assert load(tmp_path).serial_number != first.serial_number
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_more_hosts_are_added_to_the_defaults(runner: CliRunner, tmp_path: Path) -> None:
    make(runner, tmp_path, "auth.test", "192.0.2.10", "localhost")
    names = load(tmp_path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "auth.test"]
    assert ipaddress.ip_address("192.0.2.10") in names.get_values_for_type(x509.IPAddress)


def test_it_prints_a_serve_command_that_runs_without_settings(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A certificate for this machine is for a try-out: the command is the demo's, which needs
    no OSTIARY_MASTER_KEY (a bare ``ostiary serve`` refuses to start without one)."""
    stdout = make(runner, tmp_path)
    cert, key = tmp_path / CERT_FILE, tmp_path / KEY_FILE
    assert f"ostiary serve --demo --tls-cert {cert} --tls-key {key}\n" in stdout
