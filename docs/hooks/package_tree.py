"""MkDocs hook: a tree of links that lays out bdlsweep's packages as Python imports them, so mkdocstrings
finds them.

setuptools installs ``bdlsweep.sweeps`` from ``sweeps/``, ``bdlsweep.analysis`` from ``analysis/``, ...
(``[tool.setuptools.package-dir]``), and griffe, which mkdocstrings reads the docstrings with, follows
only top-level packages. The hook links each folder where its import name puts it, under
``build/api_tree/``, which ``mkdocs.yml`` gives mkdocstrings as its search path.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ROOT / "build" / "api_tree"


def build_package_tree(root: Path = ROOT, tree: Path = TREE) -> Path:
    """Link every package folder of ``pyproject.toml``'s package-dir mapping under ``tree``."""
    package_dirs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(tree, ignore_errors=True)
    for name, folder in sorted(package_dirs.items()):
        *parents, leaf = name.split(".")
        target = tree.joinpath(*parents)
        target.mkdir(parents=True, exist_ok=True)
        if parents:
            (target / leaf).symlink_to(root / folder, target_is_directory=True)
        else:
            (target / leaf).mkdir()
            for module in (root / folder).glob("*.py"):
                (target / leaf / module.name).symlink_to(module)
    return tree


def on_startup(command: str, dirty: bool) -> None:
    """Lay the tree out before mkdocstrings looks for the packages."""
    build_package_tree()
