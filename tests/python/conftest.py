"""Finds the attn package of the release build when it is not installed."""

import pathlib
import sys

try:
    import attn  # noqa: F401
except ImportError:
    build = pathlib.Path(__file__).resolve().parents[2] / "build" / "release" / "python"
    sys.path.insert(0, str(build))
