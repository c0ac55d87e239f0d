"""The CPU variants of the prediction benchmarks run at tiny sizes, and their implementations agree."""

from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


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
    assert figures["ratio"] == pytest.approx(figures["llla_s"] / figures["forward_s"])


@pytest.mark.slow
def test_packing_benchmark_runs_both_stages(benchmarks, ray_session):
    figures = benchmarks("packing").measure("cpu", 0.5, trials=2, epochs=1)
    assert figures["whole_s"] > 0 and figures["packed_0.5_s"] > 0
    assert figures["speedup"] == pytest.approx(figures["whole_s"] / figures["packed_0.5_s"])


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
    overrides = ["seeds=[1]", "stages.map.epochs=1", "evaluate.ensemble_sizes=[1]"]
    figures = benchmarks("overhead").measure(tmp_path / "map", overrides)
    assert figures["seeds"] == 1 and figures["epochs"] == 1
    assert figures["ratio"] == pytest.approx(figures["framework_s"] / figures["plain_s"])
