"""The OOD sets the registry names without reading files are the ones the loaders build."""

import pytest
from fake_data import write_uci

from bdlsweep.trainables.data.registry import load_dataset, ood_set_names


@pytest.mark.parametrize("name", ["digits", "diabetes", "gap_1d", "regression_1d"])
def test_built_in_sets_name_the_ood_sets_they_build(name):
    assert ood_set_names(name, {}) == list(load_dataset(name, {}).ood)


def test_uci_and_image_sets_name_their_ood_sets(tmp_path):
    write_uci(tmp_path, "bostonHousing")
    options = {"data_dir": str(tmp_path), "dataset": "boston"}
    assert ood_set_names("uci", options) == list(load_dataset("uci", options).ood) == ["far_inputs"]
    assert ood_set_names("cifar10", {"data_dir": str(tmp_path), "ood": ["svhn"]}) == ["svhn"]
    assert ood_set_names("mnist", {"data_dir": str(tmp_path), "ood": []}) == []
