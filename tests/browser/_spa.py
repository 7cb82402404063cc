"""What the single-page app's browser tests share: how long a step may take, the refresh
cookie's name, and the scripts that read storage and record CSP violations."""

from __future__ import annotations

from typing import Final

STEP_TIMEOUT_MS: Final = 15_000
REFRESH_COOKIE: Final = "ostiary_refresh"  # no __Host- prefix on a plain-HTTP loopback issuer
#: Everything JavaScript could read of where tokens might be kept.
READABLE_STORAGE: Final = """() => ({
    local: Object.entries(localStorage),
    session: Object.entries(sessionStorage),
    cookie: document.cookie,
})"""
RECORD_VIOLATIONS: Final = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI));
"""
