"""What a refit (``refit: true``) trains on: training and validation sets, never the test set (its sweep
end to end: ``test_tiny_regression_sweep``, the UCI protocol)."""

import torch

from bdlsweep.sweeps.running.refit import refit_space
from bdlsweep.trainables.data.molecules import Molecules
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet, with_validation_in_training
from bdlsweep.trainables.runtime.context import TrialContext


def test_a_refit_trains_on_the_training_and_validation_sets_and_leaves_test_apart():
    plain = TrialContext("s", "map", "digits", {}, "mlp", {}).load_data()
    refit = TrialContext("s", "map", "digits", {}, "mlp", {}, refit=True).load_data()
    assert torch.equal(refit.train.inputs, torch.cat([plain.train.inputs, plain.val.inputs]))
    assert torch.equal(refit.train.labels, torch.cat([plain.train.labels, plain.val.labels]))
    for split in ("val", "test"):  # evaluated as before; the test set is nowhere in training
        assert torch.equal(getattr(refit, split).inputs, getattr(plain, split).inputs)
    assert len(refit.train) == len(plain.train) + len(plain.val)


def test_molecules_of_validation_join_the_training_molecules():
    def molecules(sizes):
        return Molecules.from_list([torch.ones(n) for n in sizes], [torch.zeros(n, 3) for n in sizes])

    train, val = (
        LabelledSet(molecules([2, 3]), torch.zeros(2, 1)),
        LabelledSet(molecules([4]), torch.ones(1, 1)),
    )
    joined = with_validation_in_training(DatasetSplits(train, val, val, 1, "regression")).train
    assert len(joined) == 3 and joined.inputs.counts.tolist() == [2, 3, 4]
    assert joined.labels.ravel().tolist() == [0.0, 0.0, 1.0]


def test_the_refit_space_holds_every_selected_configuration():
    points = [
        {"seed": 1, "lr": 0.1, "epochs": 3},
        {"seed": 2, "lr": 0.1, "epochs": 5},
        {"seed": 3, "lr": 0.1, "epochs": 3},
    ]
    space = refit_space(points)
    assert space["lr"] == 0.1  # the same in every configuration: a constant
    assert space["seed"].categories == [1, 2, 3]
    assert space["epochs"].categories == [3, 5]
    assert all(space[key].is_valid(point[key]) for point in points for key in ("seed", "epochs"))
