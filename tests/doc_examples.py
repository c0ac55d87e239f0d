"""The code blocks of the README and the docs, and how a test runs each.

A block is run by a test unless the line before it says why not: ``<!-- example: not run: REASON -->``.
``<!-- example: after the quickstart -->`` marks a block that reads a finished quickstart
(``runs/quickstart``); the end-to-end quickstart test runs it against its own sweep. Other blocks run in
``test_doc_examples.py``: a ``bash`` block's ``bdlsweep run`` commands as dry runs, its install and test
commands by being the ones ``.ci/run`` runs, and a ``yaml`` block that is a whole sweep file as a dry run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from repo_paths import ROOT

DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUN_LANGUAGES = ("bash", "python", "yaml")
MARKER = re.compile(r"^<!-- example: (?P<kind>not run|after the quickstart)(?:: (?P<reason>.+?))? -->$")
NOT_RUN = "not run"
AFTER_QUICKSTART = "after the quickstart"


@dataclass(frozen=True)
class DocBlock:
    """A fenced code block: where it is, its language, its text and the marker line before it (if any)."""

    path: Path
    line: int
    language: str
    text: str
    marker: re.Match | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """A bash block's commands: continuation lines joined, comments dropped, ``&&`` chains split."""
        joined = re.sub(r"\\\n\s*", " ", self.text)
        lines = [shlex.split(line, comments=True) for line in joined.splitlines()]
        commands = []
        for words in filter(None, lines):
            command: list[str] = []
            for word in [*words, "&&"]:
                if word == "&&":
                    commands.append(shlex.join(command))
                    command = []
                else:
                    command.append(word)
        return commands


def doc_blocks(languages: tuple[str, ...] = RUN_LANGUAGES) -> list[DocBlock]:
    """Every fenced block in ``languages`` of the README and the docs."""
    blocks = []
    for path in DOC_FILES:
        lines = path.read_text().splitlines()
        index = 0
        while index < len(lines):
            opening = re.fullmatch(r"```([\w-]+)", lines[index])
            if opening is None:
                index += 1
                continue
            end = lines.index("```", index + 1)
            if opening[1] in languages:
                marker = MARKER.match(lines[index - 1]) if index else None
                text = "\n".join(lines[index + 1 : end])
                blocks.append(DocBlock(path, index + 1, opening[1], text, marker))
            index = end + 1
    return blocks


def run_after_quickstart(storage: Path) -> list[str]:
    """Run every block marked 'after the quickstart' with ``runs/quickstart`` read as ``storage`` (a
    finished quickstart): Python snippets as they are, ``bdlsweep`` commands through its entry point,
    from the repository root. Returns the names of the blocks run."""
    from bdlsweep.cli import main

    ran = []
    for block in doc_blocks():
        if block.marker is None or block.marker["kind"] != AFTER_QUICKSTART:
            continue
        text = block.text.replace("runs/quickstart", str(storage))
        if block.language == "python":
            exec(compile(text, block.name, "exec"), {"__name__": block.name})
        else:
            for command in DocBlock(block.path, block.line, block.language, text, None).commands():
                program, *arguments = shlex.split(command)
                assert program == "bdlsweep" and main(arguments) == 0, f"{block.name}: {command}"
        ran.append(block.name)
    return ran
