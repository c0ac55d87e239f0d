"""Every setting of a paper sweep file says where it comes from: a source tag defined in the file's header
(a named paper or repository, or [bdlsweep] for this project's own choice), and the papers are named."""

import re
from pathlib import Path

import pytest
from repo_paths import ROOT

OWN_SWEEPS = {"quickstart.yaml", "regression_quickstart.yaml"}  # bdlsweep's offline demos, not a paper's
PAPER_SWEEPS = sorted(path for path in (ROOT / "sweeps").glob("*.yaml") if path.name not in OWN_SWEEPS)
# where a sweep runs, what it is called and where it is recorded: not settings a paper could give
BOOKKEEPING = {"name", "method", "from", "storage", "resources", "mlflow"}
SETTING = re.compile(
    r"^\s*(?:- )?(?P<key>[A-Za-z_][\w.]*):\s+(?P<value>[^#\s][^#]*?)\s*(?:#\s*(?P<comment>.*))?$"
)
DEFINED = re.compile(r"^#\s+(?P<tag>\[[\w-]+\])\s+\S")
TAG = re.compile(r"\[[\w-]+\]")


def settings_without_source(path: Path) -> list[str]:
    """The setting lines of ``path`` whose comment has no source tag its header defines."""
    lines = path.read_text().splitlines()
    defined = {match["tag"] for line in lines if (match := DEFINED.match(line))}
    missing = []
    for number, line in enumerate(lines, start=1):
        match = SETTING.match(line)
        if match is None or match["key"] in BOOKKEEPING:
            continue
        tags = set(TAG.findall(match["comment"] or ""))
        if not tags & defined:
            missing.append(f"{path.name}:{number}: {line.strip()}")
    return missing


def test_the_paper_sweeps_are_found():
    assert len(PAPER_SWEEPS) >= 10
    assert {path.name for path in PAPER_SWEEPS} >= {
        "uci_regression.yaml",
        "cifar10_wrn16_4.yaml",
        "sst2_bert.yaml",
    }


@pytest.mark.parametrize("path", PAPER_SWEEPS, ids=lambda path: path.stem)
def test_every_setting_of_a_paper_sweep_names_its_source(path):
    assert settings_without_source(path) == []


@pytest.mark.parametrize("path", PAPER_SWEEPS, ids=lambda path: path.stem)
def test_a_paper_sweep_names_its_papers_by_authors_and_year_not_by_number(path):
    text = path.read_text()
    assert not re.search(r"\bseed(?: paper)? ?0\d\d\b|\bseeds? 0\d\d", text, re.IGNORECASE)
    header = [line for line in text.splitlines() if DEFINED.match(line)]
    assert header, "no source is defined in the header"
    for line in header:
        if "[bdlsweep]" not in line:
            assert re.search(r"\((19|20)\d\d\)", line), f"a source without its year: {line}"


def test_a_setting_without_a_source_is_found(tmp_path):
    sweep = tmp_path / "paper.yaml"
    sweep.write_text(
        '# Sources:\n#   [paper]  Someone (2020), "A paper", a venue.\n'
        "name: x\nstages:\n  map:\n    method: map\n"
        "    epochs: 10          # [paper] Table 1\n"
        "    batch_size: 128     # from the paper\n"
        "    lr: 0.1             # [other] not defined\n"
        "    momentum: 0.9\n"
    )
    assert settings_without_source(sweep) == [
        "paper.yaml:8: batch_size: 128     # from the paper",
        "paper.yaml:9: lr: 0.1             # [other] not defined",
        "paper.yaml:10: momentum: 0.9",
    ]
