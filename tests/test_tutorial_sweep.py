"""TorchUncertainty's MNIST tutorial as a sweep: its digits variant end to end, with every metric group."""

from pathlib import Path

import pytest

from bdlsweep.analysis.report import build_report
from bdlsweep.analysis.tables import final_test_rows
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec import load_spec

SWEEP = Path(__file__).parents[1] / "sweeps" / "mnist_lenet_ensembles.yaml"
LENET = {"params": 44_426, "flops": 563_280}
PACKED_LENET = {"params": 45_672, "flops": 737_760}


@pytest.mark.slow
def test_the_tutorial_sweep_runs_offline_on_digits_and_reports_every_metric_group(tmp_path, ray_session):
    overrides = [
        "dataset={name: digits, image_size: 28, corruptions: [gaussian_noise]}",
        f"storage={tmp_path / 'lenet'}",
        "seeds=[1,2]",
        "stages.map.epochs=2",
        "stages.packed.epochs=2",
        "evaluate.ensemble_sizes=[1,2]",
    ]
    outcome = run_sweep(load_spec(SWEEP, overrides))
    test = final_test_rows(outcome.ensembles).set_index(["method", "K"])
    for method, single in (("map", LENET), ("packed", PACKED_LENET)):
        for size in (1, 2):
            rows = test.loc[(method, size)]
            assert (rows["test_params"] == size * single["params"]).all()
            assert (rows["test_flops"] == size * single["flops"]).all()
            assert rows["test_acc"].between(0, 1).all() and rows["test_aurc"].notna().all()
    ood = outcome.ensembles[outcome.ensembles["split"] == "ood"]
    assert set(ood["ood_set"]) == {"permuted_digits"} and ood["ood_fpr95"].notna().all()

    report = build_report(outcome.storage)
    header = (report.folder / "metric_groups.md").read_text().splitlines()[0]
    for column in ("Classification Brier", "Calibration aECE", "OOD FPR95", "Selective AUGRC"):
        assert column in header
    assert "Selective Cov@5Risk | Selective Risk@80Cov | Complexity Params | Complexity FLOPs |" in header
    assert "Metric groups" in report.files["report.html"].read_text()
