"""``python examples/cluster/run.py [--check] ...``: the cluster example, from any directory.

The example is the package ``examples.cluster`` (``python -m examples.cluster`` from the
repository root does the same); this file only puts the repository root on ``sys.path``.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    runpy.run_module("examples.cluster", run_name="__main__", alter_sys=True)
