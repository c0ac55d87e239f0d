"""Per-seed selection by validation ELPD, and the Table C.3 layout with the best value per K marked."""

import io
import json
import math
import shutil
from dataclasses import replace

import pandas as pd
import pytest

from bdlsweep.analysis import tables
from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.running.selection import Selection, TrialRecord, select_per_seed


def _record(trial, seed, elpd):
    return TrialRecord(trial, seed, {"seed": seed}, {"val_elpd": elpd}, f"/ckpt/{trial}")


def test_selects_highest_val_elpd_per_seed_and_skips_non_finite():
    records = [
        _record("a", 1, -0.5),
        _record("b", 1, -0.2),
        _record("c", 1, math.nan),
        _record("d", 2, -1.0),
        _record("e", 2, math.inf * -1),
        _record("f", 2, -0.9),
    ]
    chosen = select_per_seed(records, "val_elpd", [1, 2])
    assert chosen[1].trial_id == "b" and chosen[2].trial_id == "f"


def test_seed_without_finite_trial_is_an_error():
    with pytest.raises(RuntimeError, match="seed 3"):
        select_per_seed([_record("a", 3, math.nan)], "val_elpd", [3])


def test_selection_file_round_trip(tmp_path):
    selection = Selection("swa", "swag", "swag", "swa", "swa_val_elpd", {1: _record("a", 1, -0.1)})
    loaded = Selection.load(selection.save(SweepLayout.at(tmp_path)))
    assert loaded == selection
    assert loaded.checkpoints() == {1: "/ckpt/a"}


def test_selection_records_checkpoints_relative_to_the_storage_root(tmp_path):
    layout = SweepLayout.at(tmp_path / "sweep")
    layout.record.write_text("{}")
    checkpoint = layout.stage("map") / "trial_0" / "checkpoint_000001" / "posterior"
    (checkpoint / "metadata.json").write_text("{}")
    record = replace(_record("a", 1, -0.1), checkpoint=str(checkpoint))
    path = Selection("map", "map", "map", None, "val_elpd", {1: record}).save(layout)
    assert (
        json.loads(path.read_text())["members"]["1"]["checkpoint"]
        == "map/trial_0/checkpoint_000001/posterior"
    )
    moved = tmp_path / "moved"
    shutil.move(layout.root.path, moved)
    loaded = Selection.load(SweepLayout.at(moved).selection("map"))
    assert loaded.checkpoints() == {1: str(moved / "map" / "trial_0" / "checkpoint_000001" / "posterior")}


def _ensembles():
    rows = []
    for method, acc, elpd, ece in [("map", 0.9, -0.3, 0.05), ("swag", 0.92, -0.25, 0.02)]:
        for ensemble_id, jitter in enumerate([-0.01, 0.01]):
            for size in (1, 2):
                for num_samples in (1, 10):
                    rows.append(
                        {
                            "method": method,
                            "K": size,
                            "ensemble_id": ensemble_id,
                            "num_samples": num_samples,
                            "split": "test",
                            "test_acc": acc + jitter + (0 if num_samples == 10 else -0.5),
                            "test_elpd": elpd + jitter,
                            "test_ece": ece,
                        }
                    )
    rows.append(
        {"method": "map", "K": 1, "ensemble_id": 0, "num_samples": 10, "split": "shift", "test_acc": 0.0}
    )
    return pd.DataFrame(rows)


def test_main_table_means_and_best_marks():
    table = tables.main_table({"digits mlp": _ensembles()}, methods=["map", "swag"])
    assert list(table.index) == [(1, "map"), (1, "swag"), (2, "map"), (2, "swag")]
    assert table.loc[(1, "swag"), ("digits mlp", "acc", "mean")] == pytest.approx(0.92)
    assert table.loc[(1, "map"), ("digits mlp", "elpd", "sem")] == pytest.approx(0.01)
    markdown = tables.to_markdown(table)
    assert "| 1 | SWAG | **0.920** | **-0.250** | **0.020** |" in markdown
    assert "| 1 | MAP | 0.900 | -0.300 | 0.050 |" in markdown
    assert "| 2 | MultiSWAG |" in markdown and "| 2 | DE |" in markdown
    latex = tables.to_latex(table, stderr=True)
    assert "\\textbf{0.920 $\\pm$ 0.010}" in latex
    csv = tables.to_csv(table)
    assert csv.splitlines()[0].startswith("K,method,name,digits mlp acc mean")


def test_a_column_whose_rows_all_agree_within_a_k_is_not_bolded():
    frame = _ensembles().assign(test_ece=0.25)
    markdown = tables.to_markdown(tables.main_table({"digits mlp": frame}, methods=["map", "swag"]))
    assert "| 1 | SWAG | **0.920** | **-0.250** | 0.250 |" in markdown
    assert "**0.250**" not in markdown


def test_large_values_print_in_scientific_notation_and_counts_with_prefixes():
    assert (
        tables.cell_number(365702.4, "rmse") == "3.66e+05"
        and tables.cell_number(-12345.0, "elpd") == "-1.23e+04"
    )
    assert tables.cell_number(9999.0, "rmse") == "9999.000" and tables.cell_number(0.25, "rmse") == "0.250"
    assert (
        tables.cell_number(36_500_000.0, "params") == "36.50 M"
        and tables.cell_number(2.1e9, "flops") == "2.10 G"
    )


def test_flagged_methods_are_marked_in_every_format_and_a_caption_says_what_the_values_are():
    table = tables.main_table({"digits mlp": _ensembles()}, methods=["map", "swag"])
    note = "worse on validation than the map it starts from for seed 2 of 2"
    notes = tables.TableNotes(caption="Mean ± s.e. over 3 splits.", flagged={"swag": note})
    markdown = tables.to_markdown(table, notes=notes)
    assert markdown.startswith("Mean ± s.e. over 3 splits.\n\n| K | Method |")
    assert "| 1 | SWAG † |" in markdown and "| 2 | MultiSWAG † |" in markdown and "| 1 | MAP |" in markdown
    assert markdown.rstrip().endswith(f"† SWAG: {note}")
    latex = tables.to_latex(table, notes=notes)
    assert "\\caption{Mean ± s.e. over 3 splits.}" in latex and "SWAG$^\\dagger$ &" in latex
    assert f"\\par\\footnotesize $^\\dagger$ SWAG: {note}" in latex and latex.startswith("\\begin{table}")
    html = tables.to_html(table, notes=notes)
    assert "<caption>Mean ± s.e. over 3 splits.</caption>" in html and f"† SWAG: {note}</p>" in html
    rows = pd.read_csv(io.StringIO(tables.to_csv(table, notes)))
    assert list(rows.loc[rows["method"] == "swag", "note"]) == [note, note]
    assert rows.loc[rows["method"] == "map", "note"].isna().all()
    assert "note" not in tables.to_csv(table)  # unflagged tables keep their columns


def test_a_suite_caption_names_the_statistic_the_splits_and_the_units():
    groups = {f"dataset=boston,split={i}": "uci boston / mlp" for i in range(20)}
    groups |= {"dataset=yacht,split=0": "uci yacht / mlp", "dataset=yacht,split=4": "uci yacht / mlp"}
    splits = {cell: int(cell.rpartition("=")[2]) for cell in groups}
    caption = tables.suite_caption(groups, splits, regression=True)
    assert caption.startswith("Mean ± s.e. over the splits of each split's mean over its ensembles")
    assert "uci boston / mlp: 20 splits (0–19); uci yacht / mlp: 2 splits (0, 4)" in caption
    assert caption.endswith("ELPD in nats per test point and RMSE in the target's units.")
    even = {cell: group for cell, group in groups.items() if "boston" in cell}
    assert tables.suite_caption(even, splits, regression=True).startswith("Mean ± s.e. over 20 splits")


def test_closeness_columns_join_the_table_where_measured_and_the_caption_gives_the_ceiling():
    frame = _ensembles()
    frame["test_agreement"] = frame["method"].map({"map": 0.8, "swag": 0.9})
    frame["test_total_variation"] = (
        frame["method"].map({"map": 0.2, "swag": 0.1}) + frame["ensemble_id"] / 100
    )
    table = tables.main_table({"digits mlp": frame}, methods=["map", "swag"])
    markdown = tables.to_markdown(table)
    assert (
        "| digits mlp Acc | digits mlp ELPD | digits mlp ECE | digits mlp Agree | digits mlp TV |" in markdown
    )
    assert "| 1 | SWAG | **0.920** | **-0.250** | **0.020** | **0.900** | **0.105** |" in markdown
    assert "TV" not in tables.to_markdown(tables.main_table({"digits mlp": _ensembles()}))
    ceiling = pd.DataFrame(
        {
            "method": "hmc",
            "seed_a": [1, 1, 2],
            "seed_b": [2, 3, 3],
            "agreement": [0.9, 0.8, 0.7],
            "total_variation": [0.1, 0.2, 0.3],
        }
    )
    caption = tables.reference_caption(
        "HMC (its first ensemble of K = 3)", ["agreement", "total_variation"], ceiling
    )
    sem = pd.Series([0.9, 0.8, 0.7]).std() / math.sqrt(3)
    assert caption == (
        "Agree, TV: each test predictive against the reference posterior's, HMC (its first ensemble of "
        "K = 3). Ceiling (hmc's single members against each other, 3 pairs): "
        f"Agree 0.800 ± {sem:.3f}, TV 0.200 ± {sem:.3f}."
    )
    assert tables.reference_caption("probs.csv", ["agreement"], None).endswith("posterior's, probs.csv.")
