"""Bad input never crashes: every leaf of every sweep file, mutated, gives a clean plan or a one-line
error (exit 2) that names the file or override and the key, quotes at most ~80 characters of the
value, and writes nothing; and each defect a fuzzer once found stays fixed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from fake_data import write_every_paper_dataset
from repo_paths import ROOT

from bdlsweep.cli import main
from bdlsweep.sweeps.tracking.records import quoted, tag_filter

DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's, where PyYAML is built with it

SWEEP_FILES = sorted((ROOT / "sweeps").glob("*.yaml"))
QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
MUTATIONS = {
    "mapping": {"a": 1},
    "list": [1, 2],
    "null": None,
    "bool": True,
    "negative": -1,
    "zero": 0,
    "huge": 10**30,
    "huge float": 1e308,
    "empty": "",
    "very long": "x" * 5000,
    "non-ASCII": "ñé日本",
    "deleted key": "<delete>",
    "unknown key": "<unknown>",
}
KINDS = list(MUTATIONS)
PER_NODE = 2  # mutations tried at each node, rotating, so every kind meets every file many times


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_every_paper_dataset(tmp_path_factory.mktemp("data"))


def _nodes(value, path=()):
    """Every key path of a YAML value, parents before children."""
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        yield (*path, key)
        yield from _nodes(child, (*path, key))


def _mutated(raw: dict, path: tuple, kind: str) -> dict | None:
    result = copy.deepcopy(raw)
    parent = result
    for key in path[:-1]:
        parent = parent[key]
    if kind == "deleted key":
        del parent[path[-1]]
    elif kind == "unknown key":
        if not isinstance(parent, dict):
            return None
        parent["zz_unknown_key"] = 1
    else:
        parent[path[-1]] = copy.deepcopy(MUTATIONS[kind])
    return result


def _run(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


def _assert_clean(code: int, errors: list[str], storage: Path, case: str) -> None:
    assert code in (0, 2), case
    if code == 2:
        assert len(errors) == 1 and errors[0].startswith("error: ") and len(errors[0]) < 600, (case, errors)
        assert not storage.exists(), case


@pytest.mark.parametrize("sweep", SWEEP_FILES, ids=lambda path: path.stem)
def test_every_leaf_of_a_sweep_file_mutated_gives_a_plan_or_a_one_line_error(
    sweep, data_dir, tmp_path, capsys
):
    raw = yaml.safe_load(sweep.read_text())
    storage = tmp_path / "storage"
    target = tmp_path / sweep.name
    cases = 0
    for number, path in enumerate(_nodes(raw)):
        for kind in (KINDS[(number + step * 5) % len(KINDS)] for step in range(PER_NODE)):
            mutated = _mutated(raw, path, kind)
            if mutated is None:
                continue
            target.write_text(yaml.dump(mutated, Dumper=DUMPER, allow_unicode=True))
            argv = ["run", str(target), "--dry-run", f"storage={storage}", f"data_dir={data_dir}"]
            _assert_clean(*_run(argv, capsys), storage, f"{sweep.stem} {path} {kind}")
            cases += 1
    assert cases > 20


BAD_OVERRIDES = [
    ("model.name=[a,b]", "model.name", "must be a name (a string), got a list"),
    ("dataset.name={a: 1}", "dataset.name", "got a mapping"),
    ("stages.swag.method=[x]", "stages.swag.method", "got a list"),
    ("storage=/tmp/" + "a" * 300, "storage", "folder name longer than 255 bytes"),
    ("model.hidden=[-1]", "model.hidden[0]", "greater than 0"),
    ("model.dropout=2", "model.dropout", "less than 1"),
    ("stages.map.optimizer.lr=1e308", "stages.map.optimizer.lr", "float32"),
    ("stages.llla.search.prior_precision=[1e40]", "stages.llla.search.prior_precision", "float32"),
    ("mlflow.experiment=" + "e" * 600, "mlflow.experiment", "at most 500"),
    ("name=" + "n" * 300, "name", "at most 100"),
    ("name=a/b", "name", "hold '/'"),
    ("name='it''s \"x\"'", "name", "both ' and \""),
    ("stages.map.epochs=true", "stages.map.epochs", "true/false"),
    ("evaluate.ensembles_per_size=1000000000000", "evaluate.ensembles_per_size", "10000"),
    ("evaluate.num_posterior_samples=1000000000000", "evaluate.num_posterior_samples", "100000"),
    ("seeds=1000000000000", "seeds", "1..10000"),
    ("seeds=three", "seeds", "a list of seeds or their count N (seeds 1..N) (got 'three')"),
    ("stages.swag.epochs=many", "stages.swag.epochs", "valid integer"),
]


@pytest.mark.parametrize(("override", "key", "problem"), BAD_OVERRIDES, ids=[c[1] for c in BAD_OVERRIDES])
def test_a_bad_override_is_one_line_naming_the_override_and_key_before_anything_is_written(
    override, key, problem, tmp_path, capsys
):
    storage = tmp_path / "storage"
    code, errors = _run(["run", str(QUICKSTART), f"storage={storage}", override], capsys)
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"error: override {override[:20]!r}"[:-1]), errors[0]
    assert f": {key}: " in errors[0] and problem in errors[0], errors[0]
    assert len(errors[0]) < 400 and not storage.exists()


def test_a_storage_folder_the_file_system_refuses_is_a_one_line_error_before_anything_starts(
    tmp_path, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    refused = [
        (blocker / "sweep", f"{blocker} is a file, not a folder"),
        (Path("/proc/bdlsweep-sweep"), "/proc"),
    ]
    for storage, problem in refused:
        code, errors = _run(["run", str(QUICKSTART), f"storage={storage}"], capsys)
        assert code == 2 and len(errors) == 1, errors
        assert ": storage: " in errors[0] and problem in errors[0], errors[0]
    # the dry run prints the plan and the reason a run from here would stop
    assert main(["run", str(QUICKSTART), f"storage={blocker / 'sweep'}", "--dry-run"]) == 0
    assert refused[0][1] in capsys.readouterr().out.splitlines()[-1]
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("sweep", "problem"),
    [
        ("folder", "a folder, not a sweep file"),
        ("/dev/null", "not a regular file"),
        ("gone.yaml", "file not found"),
    ],
)
def test_a_sweep_path_that_is_no_file_is_one_line(tmp_path, capsys, sweep, problem):
    (tmp_path / "folder").mkdir()
    path = sweep if sweep.startswith("/") else str(tmp_path / sweep)
    code, errors = _run(["run", path, "--dry-run"], capsys)
    assert code == 2 and errors == [f"error: {path}: <top level>: {problem}"]


def test_an_alias_bomb_and_a_non_utf8_file_are_one_short_line(tmp_path, capsys):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]  # a billion laughs: 9**10 strings once expanded
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]" for i in range(9)]
    body = QUICKSTART.read_text().replace("name: quickstart", "name: {" + ", ".join(levels) + "}")
    (tmp_path / "bomb.yaml").write_text(body)
    code, errors = _run(["run", str(tmp_path / "bomb.yaml"), "--dry-run"], capsys)
    assert code == 2 and len(errors) == 1 and len(errors[0]) < 300 and ": name: " in errors[0]
    (tmp_path / "latin1.yaml").write_bytes(QUICKSTART.read_bytes() + "# café\n".encode("latin-1"))
    code, errors = _run(["run", str(tmp_path / "latin1.yaml"), "--dry-run"], capsys)
    assert code == 2 and len(errors) == 1 and "not UTF-8" in errors[0]


def test_flags_may_come_anywhere_and_a_top_level_typo_gets_a_suggestion(tmp_path, capsys):
    storage = f"storage={tmp_path / 'storage'}"
    assert (
        main(["run", str(QUICKSTART), "seeds=2", "--dry-run", storage, "evaluate.ensemble_sizes=[1,2]"]) == 0
    )
    assert "seeds: 2" in capsys.readouterr().out
    typo = tmp_path / "typo.yaml"
    typo.write_text(QUICKSTART.read_text().replace("\nevaluate:", "\nevalute:"))
    code, errors = _run(["run", str(typo), "--dry-run"], capsys)
    assert code == 2 and errors == [
        f"error: {typo}: evalute: unknown key 'evalute'; did you mean 'evaluate'?"
    ]


def test_a_name_with_a_quote_is_found_again_in_mlflow(tmp_path, capsys):
    from mlflow.tracking import MlflowClient

    assert main(["run", str(QUICKSTART), "name=o'brien", "--dry-run", f"storage={tmp_path / 's'}"]) == 0
    assert "sweep o'brien" in capsys.readouterr().out
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("quotes", artifact_location=str(tmp_path / "artifacts"))
    for name in ("o'brien", 'say "hi"', "plain"):
        client.create_run(experiment, tags={"sweep": name, "stage": "map"})
    for name in ("o'brien", 'say "hi"', "plain"):
        (run,) = client.search_runs([experiment], filter_string=tag_filter({"sweep": name, "stage": "map"}))
        assert run.data.tags["sweep"] == name
    with pytest.raises(ValueError, match="both quote characters"):
        quoted("""it's "x" """)
