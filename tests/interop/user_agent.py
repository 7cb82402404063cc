"""The person at the browser, for the OAuth client interop tests: follows an authorization URL
through Ostiary's sign-in and consent pages with httpx, as a browser would (cookies kept, the
forms' hidden fields posted back, ``Origin`` set to the page's origin), and hands back the URL
the server finally sent the browser to: the client's redirect URI with the code.

The clients under test never see these pages, as real ones never do; only the URLs pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Final
from urllib.parse import urljoin, urlsplit

import httpx

#: Sign-in, consent, and the redirects between: more means the pages loop.
MAX_STEPS: Final = 8
REQUEST_TIMEOUT: Final = 10.0


@dataclass
class Form:
    """The one form of a page: where it posts, its hidden fields and its submit choices."""

    action: str | None = None
    hidden: dict[str, str] = field(default_factory=dict)
    #: ``name=value`` of each submit button (the consent page's ``decision``).
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form = Form()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.form.action = attributes.get("action", "")
        elif tag == "input" and attributes.get("type") == "hidden" and "name" in attributes:
            self.form.hidden[attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and "name" in attributes:
            self.form.buttons.append((attributes["name"], attributes.get("value", "")))


def parse_form(html: str) -> Form:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    if parser.form.action is None:
        raise AssertionError(f"the page has no form:\n{html[:2000]}")
    return parser.form


@dataclass(frozen=True, slots=True)
class Visit:
    """What the person went through: the callback URL and the pages (by ``step``) seen."""

    callback_url: str
    steps: tuple[str, ...]


async def authorize(
    authorization_url: str, *, username: str, password: str, decision: str = "allow"
) -> Visit:
    """Open ``authorization_url``, sign in as ``username`` and answer the consent page (if
    one comes) with ``decision``; return the first redirect that leaves the server."""
    server = _origin(authorization_url)
    steps: list[str] = []
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, follow_redirects=False) as browser:
        response = await browser.get(authorization_url)
        for _ in range(MAX_STEPS):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if _origin(target) != server:
                    return Visit(callback_url=target, steps=tuple(steps))
                response = await browser.get(target)
                continue
            if response.status_code != 200:
                raise AssertionError(
                    f"{response.request.method} {response.url} answered "
                    f"{response.status_code}:\n{response.text[:2000]}"
                )
            form = parse_form(response.text)
            step = form.hidden.get("step", "")
            steps.append(step)
            fields = dict(form.hidden)
            if step == "login":
                fields.update(username=username, password=password)
            elif step == "consent":
                if ("decision", decision) not in form.buttons:
                    raise AssertionError(f"the consent page offers no {decision!r}: {form}")
                fields["decision"] = decision
            else:
                raise AssertionError(f"a form of unknown step {step!r}: {form}")
            response = await browser.post(
                urljoin(str(response.url), form.action or ""),
                data=fields,
                headers={"Origin": server},
            )
    raise AssertionError(f"no redirect to the client after {MAX_STEPS} steps: {steps}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
