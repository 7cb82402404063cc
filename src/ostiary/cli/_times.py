"""``exp``, ``nbf`` and ``iat`` as a person reads them: UTC time and how long from now."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Final

TIME_CLAIMS: Final = ("exp", "nbf", "iat")
# (past phrase, future phrase) per claim; {} is the span.
_PHRASES: Final = {
    "exp": ("expired {} ago", "expires in {}"),
    "nbf": ("valid since {} ago", "not valid for another {}"),
    "iat": ("issued {} ago", "issued {} in the future"),
}
_UNITS: Final = ((86_400 * 2, 86_400, "d"), (3_600 * 2, 3_600, "h"), (60, 60, "min"))


def describe_times(claims: dict[str, Any], now: float) -> dict[str, str]:
    """Each time claim present, e.g. ``"2025-05-01 12:00:00 UTC (expires in 14 min)"``."""
    return {name: _describe(name, claims[name], now) for name in TIME_CLAIMS if name in claims}


def _describe(name: str, value: Any, now: float) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return "not a NumericDate"
    try:
        moment = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return "not a representable date"
    past, future = _PHRASES[name]
    delta = value - now
    phrase = (future if delta > 0 else past).format(span(abs(delta)))
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({phrase})"


def span(seconds: float) -> str:
    """A duration rounded down to its largest sensible unit: ``"45 s"``, ``"14 min"``, ``"3 h"``."""
    whole = int(seconds)
    for threshold, size, unit in _UNITS:
        if whole >= threshold:
            return f"{whole // size} {unit}"
    return f"{whole} s"
