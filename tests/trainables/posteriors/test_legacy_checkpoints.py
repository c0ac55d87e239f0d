"""Checkpoints written by bdlsweep before the code moved (2026-12-02, tests/fixtures/legacy_sweep) still load.

The fixture is the selected checkpoint of every method of a one-seed digits sweep, with the prepared
folders, selections and sweep record it made, and each posterior's predictions on fixed inputs at the time.
Its files record absolute paths of a folder that no longer exists, as every sweep before then did. The
predictions match to float32 precision: how a sum is split over threads changes its last bits.
"""

import shutil

import torch
from repo_paths import HELPERS

from bdlsweep.storage.layout import SweepLayout
from bdlsweep.sweeps.running.selection import Selection
from bdlsweep.trainables.registry import METHODS, posterior_class

FIXTURE = HELPERS / "fixtures" / "legacy_sweep"


def test_every_method_loads_from_a_moved_legacy_sweep_and_predicts_as_before(tmp_path):
    storage = tmp_path / "moved"
    shutil.copytree(FIXTURE, storage)
    layout = SweepLayout.at(storage)
    expected = torch.load(storage / "expected_predictions.pt", weights_only=True)
    methods = set()
    for label, outputs in expected["outputs"].items():
        selection = Selection.load(layout.selection(label))
        folder = selection.checkpoints()[1]
        assert folder.startswith(str(layout.root)), folder
        posterior = posterior_class(selection.method, selection.derived).load(folder)
        predicted = posterior.predict(expected["inputs"], 3, torch.Generator().manual_seed(0))
        torch.testing.assert_close(predicted, outputs, rtol=1e-4, atol=1e-4)  # float32 sums' order varies
        methods.add(selection.method)
    assert methods == set(METHODS)
