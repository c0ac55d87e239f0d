"""Where the tests find the repository's files (sweep files, benchmarks, data) and their own helpers."""

from pathlib import Path

HELPERS = Path(__file__).resolve().parent
ROOT = HELPERS.parent
