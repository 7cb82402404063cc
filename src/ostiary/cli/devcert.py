"""``ostiary dev-cert``: a self-signed certificate and key for trying ``ostiary serve`` over
HTTPS on this machine. Not for production: no browser or client trusts it unless told to."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shlex
from pathlib import Path
from typing import Annotated, Final

import typer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE: Final = "dev-cert.pem"
KEY_FILE: Final = "dev-key.pem"
DEFAULT_NAMES: Final = ("localhost", "127.0.0.1", "::1")
VALID_DAYS: Final = 90
GeneralName = x509.DNSName | x509.IPAddress
_DIGITAL_SIGNATURE: Final = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


def dev_cert(
    out: Annotated[
        Path,
        typer.Option(
            "--out", file_okay=False, metavar="DIR", help="The directory to write them to."
        ),
    ] = Path(".ostiary"),
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host", metavar="NAME", help="Another name or address to cover (repeatable)."
        ),
    ] = None,
) -> None:
    """Write a self-signed certificate (localhost, 127.0.0.1, ::1) and its key (mode 0600)."""
    names = [*DEFAULT_NAMES, *(name for name in host or () if name not in DEFAULT_NAMES)]
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = self_signed(key, names, now=datetime.datetime.now(datetime.UTC))
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / CERT_FILE, out / KEY_FILE
    write_private(key_path, private_pem(key))
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    typer.echo(f"wrote {cert_path} and {key_path} (valid {VALID_DAYS} days for {', '.join(names)})")
    cert, key_file = shlex.quote(str(cert_path)), shlex.quote(str(key_path))
    # --demo: the one serve that needs no settings; with OSTIARY_* set, drop it.
    typer.echo(f"ostiary serve --demo --tls-cert {cert} --tls-key {key_file}")
    typer.echo(f"then: curl --cacert {cert} https://127.0.0.1:8000/healthz")


def self_signed(
    key: ec.EllipticCurvePrivateKey, names: list[str], *, now: datetime.datetime
) -> x509.Certificate:
    """A leaf certificate for ``names`` that is its own issuer: a server certificate
    (``serverAuth``), not a CA, so that trusting it trusts nothing else."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ostiary dev certificate")])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_DIGITAL_SIGNATURE, critical=True)
        # Key identifiers: strict verifiers (Python 3.13's default context) insist on them.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def general_name(name: str) -> GeneralName:
    """An IP address entry for an address, a DNS name entry for anything else."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),  # uvicorn reads it without a password prompt
    )


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, from its first byte: created 0600, and an
    older file's mode narrowed before it is overwritten."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(data)
