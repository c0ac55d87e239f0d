"""``bdlsweep report A B --out DIR``: one Table C.3-style table over several sweeps, classification beside
regression, each column the mean ± s.e. over that sweep's ensembles."""

import json

import numpy as np
import pandas as pd
import pytest

from bdlsweep.cli import main

CLASSIFICATION = ("acc", "elpd", "ece")
REGRESSION = ("elpd", "rmse", "coverage_90")


def _fake_sweep(folder, name: str, group: str, methods: list[str], metrics: tuple[str, ...], seed: int):
    """A storage folder holding a sweep record and test rows of ensembles of K = 1 and 2 (two sample
    counts each, of which the table reads the larger)."""
    rng = np.random.default_rng(seed)
    rows = [
        {"method": method, "K": size, "ensemble_id": ensemble, "num_samples": samples, "split": "test"}
        | {f"test_{metric}": rng.normal(size) for metric in metrics}
        for method in methods
        for size in (1, 2)
        for ensemble in range(4)
        for samples in (5, 10)
    ]
    frame = pd.DataFrame(rows)
    (folder / "evaluation").mkdir(parents=True)
    frame.to_csv(folder / "evaluation" / "ensembles.csv", index=False)
    record = {
        "name": name,
        "dataset": name,
        "model": "m",
        "table_group": group,
        "evaluate": {"methods": methods},
    }
    (folder / "sweep.json").write_text(json.dumps(record))
    return frame


def test_two_sweeps_give_one_table_with_a_column_group_each(tmp_path, capsys):
    cifar = _fake_sweep(tmp_path / "a", "cifar", "cifar10 / wrn", ["map", "swag", "llla"], CLASSIFICATION, 0)
    qm9 = _fake_sweep(tmp_path / "b", "qm9", "qm9 / painn", ["map", "llla"], REGRESSION, 1)
    out = tmp_path / "combined"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)]) == 0
    assert str(out / "table.md") in capsys.readouterr().out
    table = pd.read_csv(out / "table.csv")
    assert table[["K", "name"]].values.tolist() == [
        [1, "MAP"], [1, "SWAG"], [1, "LLLA"], [2, "DE"], [2, "MultiSWAG"], [2, "LLLA"]
    ]  # fmt: skip
    for group, frame, metrics in (("cifar10 / wrn", cifar, CLASSIFICATION), ("qm9 / painn", qm9, REGRESSION)):
        final = frame[frame["num_samples"] == 10]
        for metric in metrics:
            expected = final.groupby(["K", "method"])[f"test_{metric}"].agg(["mean", "sem"])
            for row in table.itertuples():
                key = (row.K, row.method)
                got = table.loc[row.Index, [f"{group} {metric} mean", f"{group} {metric} sem"]].tolist()
                if key in expected.index:
                    assert got == pytest.approx(expected.loc[key].tolist())
                else:
                    assert np.isnan(got).all()  # QM9 has no SWAG
    markdown = (out / "table.md").read_text().splitlines()
    assert markdown[0].startswith("| K | Method | cifar10 / wrn Acc |") and "qm9 / painn RMSE" in markdown[0]
    swag_row = next(line for line in markdown if "| 1 | SWAG |" in line)
    assert swag_row.rstrip(" |").endswith("| – | – | –")
    latex = (out / "table.tex").read_text()
    assert "\\multicolumn{3}{c}{cifar10 / wrn} & \\multicolumn{3}{c}{qm9 / painn}" in latex
    assert (
        "\\cmidrule(lr){3-5}\\cmidrule(lr){6-8}" in latex
        and "K & Method & Acc & ELPD & ECE & ELPD & RMSE & Cov90" in latex
    )
    assert "<table>" in (out / "report.html").read_text()


def test_a_combined_report_needs_an_out_folder_evaluated_sweeps_and_no_repeats(tmp_path, capsys):
    _fake_sweep(tmp_path / "a", "cifar", "cifar10 / wrn", ["map"], CLASSIFICATION, 0)
    (tmp_path / "b").mkdir()
    cases = [
        (["report", str(tmp_path / "a"), str(tmp_path / "a")], "say where with --out FOLDER"),
        (
            ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "o")],
            "not a bdlsweep storage",
        ),
        (["report", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "o")], "given twice"),
    ]
    for arguments, problem in cases:
        assert main(arguments) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and problem in error
    assert not (tmp_path / "o").exists()


def test_a_combined_report_sets_the_sweeps_costs_side_by_side(tmp_path, monkeypatch):
    from bdlsweep.analysis import combined_report

    _fake_sweep(tmp_path / "a", "cifar", "cifar10 / wrn", ["map", "swag"], CLASSIFICATION, 0)
    _fake_sweep(tmp_path / "b", "qm9", "qm9 / painn", ["map"], REGRESSION, 1)
    assert "cost.csv" not in {
        p.name
        for p in combined_report.build_combined_report(
            [tmp_path / "a", tmp_path / "b"], tmp_path / "bare"
        ).folder.path.iterdir()
    }  # no trials stored

    def stored_cost(storage, record, frame):
        seconds = {"cifar": 100.0, "qm9": 7.0}[record["name"]]
        return pd.DataFrame(
            {"trials": 3, "cpu_s": seconds, "selected_cpu_s": seconds / 3, "params": 1e6, "flops": 2e6},
            index=pd.Index(record["evaluate"]["methods"], name="method"),
        )

    monkeypatch.setattr(combined_report, "cost_table", stored_cost)
    combined_report.build_combined_report([tmp_path / "a", tmp_path / "b"], tmp_path / "o")
    cost = pd.read_csv(tmp_path / "o" / "cost.csv")
    assert cost[["method", "sweep", "cpu_s"]].values.tolist() == [
        ["map", "cifar10 / wrn", 100.0], ["swag", "cifar10 / wrn", 100.0], ["map", "qm9 / painn", 7.0]
    ]  # fmt: skip
    page = (tmp_path / "o" / "report.html").read_text()
    assert "Cost: training CPU- and GPU-seconds" in page and "qm9 / painn" in page and "1.00 M" in page
