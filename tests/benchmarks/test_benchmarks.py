"""The CPU variants of the prediction benchmarks run at tiny sizes, and their implementations agree."""

import pytest
from repo_paths import ROOT

BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def benchmarks(monkeypatch):
    """Import benchmark scripts by name, as ``python benchmarks/<name>.py`` does."""
    import importlib

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module


def test_reference_predictions_agree_with_the_framework(benchmarks):
    import torch

    figures = benchmarks("reference").measure(points=50, samples=9, device=torch.device("cpu"), repeats=1)
    for name in ("swag_vs_per_sample_loop", "llla_vs_laplace_torch"):
        result = figures[name]
        assert result["max_abs_probability_difference"] < 1e-5, name  # the same weight samples
        assert result["reference_s"] > 0 and result["framework_s"] > 0 and result["speedup"] > 0


def test_llla_evaluation_benchmark_times_both_predictions(benchmarks):
    import torch

    llla_eval = benchmarks("llla_eval")
    figures = llla_eval.measure("cnn", points=64, samples=8, device=torch.device("cpu"), repeats=1)
    assert figures["forward_s"] > 0 and figures["llla_s"] > 0
    assert figures["collapsed_max_abs_probability_difference"] < 1e-3  # it timed the network's own LLLA


@pytest.mark.slow
def test_packing_benchmark_runs_both_stages(benchmarks, ray_session):
    figures = benchmarks("packing").measure("cpu", 0.5, trials=2, epochs=1)
    assert figures["whole_s"] > 0 and figures["packed_0.5_s"] > 0
    assert figures["speedup"] == pytest.approx(figures["whole_s"] / figures["packed_0.5_s"])


@pytest.mark.slow  # starts a server process / runs the benchmark script: 25-35 s
def test_train_throughput_benchmark_gives_both_loops_the_same_speed_settings(benchmarks):
    import torch

    from bdlsweep.trainables.settings import SpeedSettings

    speed = SpeedSettings(precision="bf16", channels_last=True)
    throughput = benchmarks("train_throughput")
    figures = throughput.measure(images=16, batch_size=8, device=torch.device("cpu"), speed=speed)
    assert figures["precision"] == "bf16" and figures["channels_last"]
    assert figures["framework_images_per_s"] > 0 and figures["plain_images_per_s"] > 0


@pytest.mark.slow
def test_overhead_benchmark_times_the_stage_and_the_plain_loop(benchmarks, ray_session, tmp_path):
    figures = benchmarks("overhead").measure(tmp_path, "digits", "cpu", seeds=1, epochs=(1, 2))
    first, second = figures["runs"]
    assert (first["epochs"], second["epochs"]) == (1, 2)
    for row in figures["runs"]:
        assert row["ratio"] == pytest.approx(row["framework_s"] / row["plain_s"])
    extra = (second["framework_s"] - first["framework_s"]) / (second["plain_s"] - first["plain_s"])
    assert figures["marginal_ratio"] == pytest.approx(extra)
    assert figures["fixed_s"] + extra * first["plain_s"] == pytest.approx(first["framework_s"])
    assert figures["plain_process_s"] > first["plain_s"]  # the process also starts Python and imports torch


def test_overhead_cifar_workload_reads_its_synthetic_files(benchmarks, tmp_path):
    import torch

    overhead = benchmarks("overhead")
    spec = overhead.workload_spec("cifar", tmp_path / "stage", "cpu", seeds=2, images=100, epochs=3)
    assert spec.model == "wide_resnet" and spec.stages["map"].settings.epochs == 3
    data = overhead.TrialContext("s", "map", spec.dataset, spec.dataset_options, spec.model, {}).load_data()
    assert len(data.train.labels) + len(data.val.labels) == 100
    assert data.train.inputs.shape[1:] == (3, 32, 32) and data.train.inputs.dtype == torch.float32


def test_evaluation_benchmark_counts_fewer_passes_per_member_than_per_ensemble(benchmarks):
    figures = benchmarks("evaluation").measure(seeds=3, samples=4, sizes=(1, 2), repeats=1)
    assert figures["ensembles"] == 3 + 3  # three single models, the three distinct pairs
    assert figures["passes_per_member"] == 3 * 4  # each member's 4 samples, once
    assert figures["passes_per_ensemble"] == 6 * 4  # each ensemble's 4 samples, predicted afresh
    assert figures["per_member_s"] > 0 and figures["per_ensemble_s"] > 0


def test_the_early_stopping_benchmarks_mnist_files_are_the_digits_read_by_the_mnist_loader(
    benchmarks, tmp_path
):
    import numpy as np

    from bdlsweep.trainables.data import load_dataset
    from bdlsweep.trainables.data.digits import bundled_digits

    root = benchmarks("early_stopping").write_digits_as_mnist(tmp_path, test=97)
    data = load_dataset("mnist", {"data_dir": str(root), "val_size": 100, "ood": ()})
    assert data.input_shape == (1, 28, 28) and len(data.test.labels) == 97
    assert len(data.train.labels) + len(data.val.labels) + 97 == 1797
    _, labels = bundled_digits()
    counts = np.bincount(np.concatenate([data.train.labels, data.val.labels, data.test.labels]), minlength=10)
    assert counts.tolist() == np.bincount(labels, minlength=10).tolist()


def test_evaluation_shares_benchmark_times_the_evaluation_at_each_share(benchmarks, ray_session):
    figures = benchmarks("evaluation_shares").measure("cnn", members=2, samples=2, images=50, shares=[1, 0.5])
    assert set(figures["seconds"]) == {"1", "0.5"} and min(figures["seconds"].values()) > 0
    assert figures["speedup_vs_first_share"]["0.5"] == pytest.approx(
        figures["seconds"]["1"] / figures["seconds"]["0.5"]
    )
    assert figures["image_forwards"] == 2 * 2 * 50


def test_the_fidelity_benchmark_writes_the_real_boston_table_in_the_uci_layout(benchmarks, tmp_path):
    import numpy as np

    from bdlsweep.trainables.data.uci import load_uci

    root = benchmarks("uci_fidelity").write_boston(tmp_path, splits=3)
    for split in range(3):
        data = load_uci(str(root), "boston", split=split)
        assert len(data.test) == 51 and len(data.train) + len(data.val) == 455
    table = np.loadtxt(root / "UCI_Datasets" / "bostonHousing" / "data" / "data.txt")
    assert table.shape == (506, 14)
    assert table[:, 13].min() == 5.0 and table[:, 13].max() == 50.0  # median values in $1000s, capped at 50
    assert table[0, :3].tolist() == [0.00632, 18.0, 2.31]  # the UCI file's first row: CRIM, ZN, INDUS


def test_the_fidelity_comparison_pairs_splits_and_scales_published_errors(benchmarks):
    import pandas as pd

    fidelity = benchmarks("uci_fidelity")
    splits = pd.DataFrame(
        {
            "method": ["map"] * 4 + ["mc_dropout"] * 2,
            "K": [1, 1, 3, 3, 1, 1],
            "cell": ["s0", "s1", "s0", "s1", "s0", "s1"],
            "test_rmse": [3.0, 3.4, 2.8, 3.2, 2.9, 3.1],
            "test_elpd": [-2.6, -2.8, -2.5, -2.5, -2.4, -2.6],
        }
    )
    rows = {(row["method"], row["K"]): row for row in fidelity.compare(splits, seeds=3)}
    assert (
        rows[("map", 1)]["test_rmse"] == "3.200 ± 0.200"
        and rows[("map", 1)]["ll_minus_map_k1"] == "0.000 ± 0.000"
    )
    assert rows[("map", 3)]["ll_minus_map_k1"] == "0.200 ± 0.100"  # paired: +0.1 and +0.3
    dropout = rows[("mc_dropout", 1)]
    assert dropout["test_ll"] == "-2.500 ± 0.100" and dropout["published_ll"] == "-2.40 ± 0.04"
    assert dropout["ll_gap_se"] == round(-0.1 / (0.1**2 + 0.04**2) ** 0.5, 2)
    assert rows[("map", 3)]["published_rmse"] == "3.28 ± 0.22"  # Table 1's sd over 20 splits, / √20
