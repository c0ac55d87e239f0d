"""Randomly relabelled training data and the label-corruption study in the report."""

import pandas as pd
import pytest
import torch
from repo_paths import ROOT

from bdlsweep.analysis.label_noise import label_noise_table
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.data.label_noise import relabelled, with_label_noise


def test_a_fixed_share_of_labels_is_relabelled_uniformly_and_the_rest_kept():
    labels = torch.arange(2000) % 10
    assert torch.equal(relabelled(labels, 0.0, 10), labels)
    half = relabelled(labels, 0.5, 10)
    assert torch.equal(half, relabelled(labels, 0.5, 10))  # one fixed choice
    changed = int((half != labels).sum())
    assert changed <= 1000 and changed == pytest.approx(0.9 * 1000, abs=60)  # 1 in 10 redraws its own class
    everything = relabelled(labels, 1.0, 10)
    assert float((everything == labels).float().mean()) == pytest.approx(0.1, abs=0.025)
    assert torch.bincount(everything, minlength=10).min() > 150  # uniform over the classes
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        relabelled(labels, 1.5, 10)


def test_only_the_training_labels_change():
    splits = load_dataset("digits", {})
    noisy = with_label_noise(splits, 0.2)
    assert not torch.equal(noisy.train.labels, splits.train.labels)
    assert torch.equal(noisy.train.inputs, splits.train.inputs)
    assert torch.equal(noisy.val.labels, splits.val.labels) and torch.equal(
        noisy.test.labels, splits.test.labels
    )
    assert with_label_noise(splits, 0.0) is splits


def test_the_study_table_averages_seeds_per_fraction():
    trials = pd.DataFrame(
        {
            "config/label_noise": [0.0, 0.0, 1.0, 1.0],
            "train_acc": [1.0, 0.98, 0.9, 1.0],
            "test_acc": [0.95, 0.97, 0.1, 0.12],
        }
    )
    table = label_noise_table(trials)
    assert table["label_noise"].tolist() == [0.0, 1.0]
    assert table["train_acc_mean"].tolist() == pytest.approx([0.99, 0.95])
    assert table["test_acc_mean"].tolist() == pytest.approx([0.96, 0.11])
    assert (table["test_acc_count"] == 2).all()
    assert label_noise_table(trials.drop(columns="test_acc")) is None


@pytest.mark.slow
def test_the_label_noise_sweep_reports_train_and_test_accuracy_per_fraction(tmp_path, ray_session):
    from bdlsweep.analysis.report import build_report
    from bdlsweep.sweeps.pipeline import run_sweep
    from bdlsweep.sweeps.spec.loading import load_spec

    sweep = ROOT / "sweeps" / "digits_label_noise.yaml"
    overrides = [
        f"storage={tmp_path / 'noise'}",
        "seeds=[1]",
        "stages.map.epochs=3",
        "stages.map.search.label_noise=[0.0,1.0]",
        "evaluate.ensemble_sizes=[1]",
    ]
    outcome = run_sweep(load_spec(sweep, overrides))
    report = build_report(outcome.storage)
    table = pd.read_csv(report.files["label_noise_map.csv"].path)
    assert table["label_noise"].tolist() == [0.0, 1.0]
    clean, noise = table["test_acc_mean"]
    assert clean > 0.5 and noise < clean  # random labels teach nothing about the test set
    assert "label_noise_map.png" in report.files
