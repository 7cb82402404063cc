"""The signing key the bearer tests of every framework share, generated once."""

from __future__ import annotations

from typing import Final

from ostiary.keys import generate_key

KEY: Final = generate_key("ES256")
