"""Where the tests find the source tree, its examples and the installed `flowui` command."""

from __future__ import annotations

import sys
from pathlib import Path

# The repository's own checkout (tests/support/paths.py is two folders below it).
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
# The `flowui` console script of the environment that runs the tests, as a user runs it.
FLOWUI = Path(sys.executable).parent / "flowui"
