"""Ostiary's benchmarks: ``python -m benchmarks [verify|http|server] [--quick]`` (or
``make bench``).

Every figure is a ratio against a baseline measured in the same run, on the same machine and
the same tokens; each timing is the median of several repeats. Nothing here asserts on time:
targets print PASS or MISS and the exit status is 0 either way (1 only when a bench crashes).
See ``docs/benchmarks.md``.

This module stays free of heavy imports: the server and load-generator processes
(:mod:`benchmarks._server`, :mod:`benchmarks._load`) import it too.
"""

from __future__ import annotations
