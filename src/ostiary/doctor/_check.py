"""One finding of ``ostiary doctor``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from ipaddress import ip_address
from urllib.parse import urlsplit


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True, slots=True)
class Check:
    """What was checked, how it went, what was found and (unless it passed) how to fix it."""

    name: str
    status: Status
    found: str
    fix: str = ""


def passed(name: str, found: str) -> Check:
    return Check(name, Status.PASS, found)


def warned(name: str, found: str, fix: str) -> Check:
    return Check(name, Status.WARN, found, fix)


def failed(name: str, found: str, fix: str) -> Check:
    return Check(name, Status.FAIL, found, fix)


def is_loopback(url: str) -> bool:
    """True if ``url`` names this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
