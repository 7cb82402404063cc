"""A relying party that signs users in through Ostiary (README.md)."""
