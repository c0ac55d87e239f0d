"""The troubleshooting page names every error class the package raises, so a new one cannot go
undocumented: the classes are read from the source (classes deriving from an exception type)."""

from __future__ import annotations

import ast

from repo_paths import ROOT

PACKAGES = ("bdlsweep", "sweeps", "trainables", "analysis", "storage", "metrics", "search_spaces")
EXCEPTION_BASES = ("Error", "Exception", "Interrupt")


def _error_classes() -> dict[str, str]:
    """Every class whose base's name ends like an exception's (or is one of these classes), by name,
    with the module defining it."""
    found: dict[str, str] = {}
    trees = {
        path: ast.parse(path.read_text()) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    changed = True
    while changed:  # subclasses of subclasses (MissingRecordError of UnreadableRecordError)
        changed = False
        for path, tree in trees.items():
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in found:
                    continue
                bases = [
                    base.id if isinstance(base, ast.Name) else getattr(base, "attr", "")
                    for base in node.bases
                ]
                if any(base.endswith(EXCEPTION_BASES) or base in found for base in bases):
                    found[node.name] = str(path.relative_to(ROOT))
                    changed = True
    return found


def test_the_troubleshooting_page_names_every_error_class():
    page = (ROOT / "docs" / "troubleshooting.md").read_text()
    classes = _error_classes()
    assert len(classes) >= 10
    assert {name: module for name, module in classes.items() if f"`{name}`" not in page} == {}
