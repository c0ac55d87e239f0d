"""``bdlsweep prior``: the prior studies from a sweep file, written to storage and MLflow."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from repo_paths import ROOT

from bdlsweep.cli import main

SWEEPS = ROOT / "sweeps"


def test_prior_sample_functions_on_the_1d_regression_set(tmp_path, capsys):
    storage = tmp_path / "prior1d"
    command = ["prior", str(SWEEPS / "regression_1d_hmc.yaml"), f"storage={storage}"]
    assert main([*command, "--variances", "0", "0.01", "1", "--samples", "4"]) == 0
    functions = pd.read_csv(storage / "prior" / "prior_functions.csv")
    assert set(functions["variance"]) == {0.0, 0.01, 1.0} and set(functions["sample"]) == {0, 1, 2, 3}
    at_zero = functions[functions["variance"] == 0].pivot(index="x", columns="sample", values="f")
    assert (at_zero.nunique(axis=1) == 1).all()  # variance 0: every sample is the same function
    spread = functions.groupby("variance")["f"].std()
    assert spread[0.0] == 0 and spread[0.01] < spread[1.0]
    assert (storage / "prior" / "prior_functions.png").read_bytes().startswith(b"\x89PNG")
    client = MlflowClient(f"sqlite:///{storage}/mlflow.db")
    experiment = client.get_experiment_by_name("regression_1d_hmc").experiment_id
    (run,) = client.search_runs([experiment], filter_string="tags.run_kind = 'prior'")
    assert run.data.params["samples"] == "4"


def test_prior_correlations_and_probabilities_on_digits(tmp_path):
    storage = tmp_path / "prior_digits"
    command = [
        "prior",
        str(SWEEPS / "quickstart.yaml"),
        f"storage={storage}",
        "dataset.corruptions=[rotation]",
    ]
    assert main([*command, "--variances", "0.01", "1", "--samples", "6", "--inputs", "40"]) == 0
    folder = storage / "prior"
    diagrams = pd.read_csv(folder / "prior_class_correlations.csv")
    assert len(diagrams) == 2 * 10 * 10 and diagrams["correlation"].dropna().between(-1, 1).all()
    shifted = pd.read_csv(folder / "prior_shift_correlations.csv")
    assert set(shifted["corruption"]) == {"rotation"} and set(shifted["severity"]) == {1, 2, 3, 4, 5}
    top = pd.read_csv(folder / "prior_top_probability.csv")
    assert (top.groupby("variance")["count"].sum() == 6 * 40).all()
    assert top["lower"].min() == pytest.approx(0.1)


def test_bad_prior_settings_exit_2(tmp_path, capsys):
    command = ["prior", str(SWEEPS / "quickstart.yaml"), f"storage={tmp_path / 's'}"]
    assert main([*command, "--variances", "-1"]) == 2
    assert "--variances" in capsys.readouterr().err
    assert main([*command, "seeds=0"]) == 2
    assert not (tmp_path / "s").exists()
