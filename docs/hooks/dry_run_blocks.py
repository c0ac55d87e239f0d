"""MkDocs hook: a page's ```` ```dry-run ```` block (a sweep file and its overrides) becomes the plan that
``bdlsweep run FILE OVERRIDES --dry-run`` prints, computed at build time, so a paper's page shows its
sweep's real trial and epoch counts and cannot drift from the sweep file."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from bdlsweep.sweeps.cost.dry_run import describe_dry_run
from bdlsweep.sweeps.pipeline import ensembles_to_evaluate
from bdlsweep.sweeps.spec.loading import load_spec

ROOT = Path(__file__).resolve().parents[2]
DRY_RUN_BLOCK = re.compile(r"^```dry-run\n(?P<arguments>[^\n]+)\n```$", re.MULTILINE)


def dry_run_plan(arguments: str) -> str:
    """The dry run's plan for ``arguments`` (a sweep file relative to the repository and its overrides),
    as a console block; the first line (this machine's storage path) and the notes on missing data
    and resources (this machine's) are left out."""
    sweep, *overrides = shlex.split(arguments)
    spec = load_spec(ROOT / sweep, overrides, missing_data=[])
    lines = describe_dry_run(spec, ensembles_to_evaluate(spec))[1:]
    command = f"$ bdlsweep run {arguments} --dry-run"
    return "```console\n" + "\n".join([command, *lines]) + "\n```"


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Replace each dry-run block of the page with the plan it names."""
    return DRY_RUN_BLOCK.sub(lambda match: dry_run_plan(match["arguments"]), markdown)
