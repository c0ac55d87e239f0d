"""Every command and snippet in the README and the docs runs, or says why it cannot: ``bdlsweep run``
commands and whole sweep files plan (dry run), install and test commands are the ones ``.ci/run`` runs,
and the blocks that read a finished quickstart run in the quickstart's end-to-end test."""

from __future__ import annotations

import shlex

import pytest
import yaml
from doc_examples import AFTER_QUICKSTART, NOT_RUN, DocBlock, doc_blocks
from repo_paths import ROOT

from bdlsweep.cli import main

CI_COMMANDS = (ROOT / ".ci" / "run").read_text()
ENVIRONMENT_COMMANDS = ("python -m venv", "source .venv/bin/activate")


def _kind(command: str) -> str:
    """How a bash command is checked: ``plan`` (a ``bdlsweep run`` dry run), ``ci`` (.ci/run runs it) or
    ``other`` (it needs a marker)."""
    if command.startswith("bdlsweep run "):
        return "plan"
    run_by_ci = command.startswith("python -m ") and command in CI_COMMANDS
    if command.startswith(ENVIRONMENT_COMMANDS) or run_by_ci:
        return "ci"
    return "other"


def _checked_blocks() -> list[DocBlock]:
    return [block for block in doc_blocks() if block.marker is None]


def test_every_block_is_run_or_says_why_not():
    unexplained = []
    for block in doc_blocks():
        if block.marker is not None:
            if block.marker["kind"] == NOT_RUN and not block.marker["reason"]:
                unexplained.append(f"{block.name}: 'not run' without a reason")
            if block.marker["kind"] == AFTER_QUICKSTART and "runs/quickstart" not in block.text:
                unexplained.append(f"{block.name}: 'after the quickstart' but reads no runs/quickstart")
            continue
        if block.language == "python":
            unexplained.append(f"{block.name}: a Python snippet needs a marker")
        elif block.language == "yaml" and not isinstance(yaml.safe_load(block.text).get("stages"), dict):
            unexplained.append(f"{block.name}: a part of a sweep file (no stages:) needs a marker")
        elif block.language == "bash":
            others = [command for command in block.commands() if _kind(command) == "other"]
            unexplained += [f"{block.name}: `{command}` is not run by any test" for command in others]
    assert unexplained == []


@pytest.mark.parametrize("block", _checked_blocks(), ids=lambda block: block.name)
def test_a_blocks_commands_plan_and_its_sweep_files_validate(block, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)  # the docs' paths (sweeps/...) are relative to the repository
    storage = f"storage={tmp_path / 'storage'}"  # a dry run writes nothing, but never into runs/
    if block.language == "yaml":
        sweep = tmp_path / "example.yaml"
        sweep.write_text(block.text)
        assert main(["run", str(sweep), storage, "--dry-run"]) == 0, capsys.readouterr().err
        return
    for command in block.commands():
        if _kind(command) != "plan":
            continue
        words = [word for word in shlex.split(command)[1:] if word not in ("--dry-run", "--probe")]
        assert main([*words, storage, "--dry-run"]) == 0, (command, capsys.readouterr().err)
        assert "trials in" in capsys.readouterr().out
