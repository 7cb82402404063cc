"""An auth server and two services that call each other with tokens (README.md)."""
