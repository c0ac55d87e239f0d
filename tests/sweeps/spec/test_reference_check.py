"""``evaluate.reference``: a method the sweep evaluates, or a file of predictions of the dataset's kind that
fits its test set; anything else stops the run in one line before training."""

import numpy as np
import pytest
import yaml
from repo_paths import ROOT
from sweep_files import write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.evaluation.reference import evaluation_reference
from bdlsweep.sweeps.reading.errors import SpecError
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.data import load_dataset

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"
REGRESSION = ROOT / "sweeps" / "regression_quickstart.yaml"


def _sweep_with_reference(tmp_path, source, reference: str):
    raw = yaml.safe_load(source.read_text())
    raw["storage"] = str(tmp_path / "storage")
    raw["evaluate"]["reference"] = reference
    return write_sweep(tmp_path, raw, "sweep.yaml")


def test_a_method_of_the_sweep_is_a_reference_and_a_file_is_read_beside_the_sweep_file(tmp_path):
    assert load_spec(QUICKSTART, ["evaluate.reference=swag"]).evaluate.reference == "swag"
    test_size = len(load_dataset("digits", {}).test)
    probs = np.full((test_size, 10), 0.1)
    np.savetxt(tmp_path / "probs.csv", probs, delimiter=",")
    spec = load_spec(_sweep_with_reference(tmp_path, QUICKSTART, "probs.csv"))
    assert spec.reference_file == tmp_path / "probs.csv"
    found = evaluation_reference(spec)
    assert found.name == "probs.csv" and found.arrays["probs"].shape == (test_size, 10)


@pytest.mark.parametrize(
    ("source", "arrays", "problem"),
    [
        (
            REGRESSION,
            {"probs": np.full((3, 2), 0.5)},
            "ref.npz holds class probabilities, but the dataset is a regression set",
        ),
        (
            QUICKSTART,
            {"mean": np.ones(3), "var": np.ones(3)},
            "ref.npz holds Gaussian means and variances, but the dataset is a classification set",
        ),
    ],
    ids=["probabilities-for-regression", "moments-for-classification"],
)
def test_a_file_of_the_other_kind_of_predictions_is_refused(tmp_path, source, arrays, problem):
    np.savez(tmp_path / "ref.npz", **arrays)
    with pytest.raises(SpecError, match=f"evaluate.reference: {problem}"):
        load_spec(_sweep_with_reference(tmp_path, source, "ref.npz"))


@pytest.mark.parametrize(
    ("rows", "classes", "indices", "problem"),
    [
        (5, 10, None, "5 rows, but the test set has 400 points \\(give indices\\)"),
        (400, 3, None, "3 classes, but the test set has 10"),
        (2, 10, [0, 400], "index 400 is past the test set's 400 points"),
    ],
    ids=["rows", "classes", "indices"],
)
def test_a_file_that_does_not_fit_the_test_set_stops_the_run_before_training(
    tmp_path, capsys, rows, classes, indices, problem
):
    assert len(load_dataset("digits", {}).test) == 400
    arrays = {"probs": np.full((rows, classes), 1 / classes)}
    np.savez(tmp_path / "ref.npz", **arrays, **({} if indices is None else {"indices": np.array(indices)}))
    path = _sweep_with_reference(tmp_path, QUICKSTART, "ref.npz")
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and f"{path}: evaluate.reference: ref.npz: " in error
    assert problem.replace("\\", "") in error
    assert not (tmp_path / "storage").exists()


def test_a_suite_names_a_method_as_its_reference_not_a_file(tmp_path):
    np.savetxt(tmp_path / "probs.csv", np.full((4, 2), 0.5), delimiter=",")
    raw = yaml.safe_load((ROOT / "sweeps" / "uci_regression.yaml").read_text())
    raw["evaluate"]["reference"] = "probs.csv"
    path = write_sweep(tmp_path, raw, "suite.yaml")
    with pytest.raises(SpecError, match="a file covers one test set and this suite has 100 cells"):
        load_spec(path, [f"data_dir={tmp_path}"], missing_data=[])
