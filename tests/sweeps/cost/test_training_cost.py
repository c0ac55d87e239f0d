"""The dry run's epochs per stage equal a count by hand, over grids, searched epochs, samplers and seeds."""

from sweep_files import small_sweep, write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.cost.training_cost import stage_costs
from bdlsweep.sweeps.spec.loading import load_spec

SWEEP = small_sweep(
    "costed",
    {
        "map": {"method": "map", "epochs": 5, "search": {"optimizer.lr": [0.1, 0.01]}},
        "swag": {"method": "swag", "from": "map", "search": {"epochs": [2, 6], "lr": [0.01, 0.03]}},
        "llla": {"method": "llla", "from": "map", "search": {"prior_precision": [1.0, 10.0, 100.0]}},
        "hmc": {"method": "hmc", "iterations": 4, "burn_in": 1, "step_size": 0.1, "trajectory_length": 0.35},
        "optuna": {
            "method": "mc_dropout",
            "epochs": 7,
            "search": "optuna",
            "searcher": {"num_samples": 5},
        },
    },
    {"methods": ["map"], "ensemble_sizes": [1]},
    seeds=[1, 2, 3],
)

HAND_COUNT = {  # stage: (trials, epochs)
    "map": (3 * 2, 3 * 2 * 5),
    "swag": (3 * 4, 3 * (2 + 2 + 6 + 6)),
    "llla": (3 * 3, 3 * 1),  # one pass per seed for features and Hessian; trials only validate
    "hmc": (3, 3 * 4 * 4),  # ceil(0.35 / 0.1) = 4 leapfrog gradients per iteration
    "optuna": (3 * 5, 3 * 5 * 7),
}


def test_the_epochs_of_each_stage_equal_a_count_by_hand(tmp_path, capsys):
    path = write_sweep(tmp_path, SWEEP, "costed.yaml")
    overrides = [f"storage={tmp_path / 'sweep'}"]
    costs = {cost.stage: cost for cost in stage_costs(load_spec(path, overrides))}
    assert {name: (cost.trials, cost.epochs) for name, cost in costs.items()} == HAND_COUNT
    assert costs["swag"].per_trial == 4 and costs["llla"].per_seed == 1

    assert main(["run", str(path), *overrides, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "stage swag (swag from map): 12 trials" in out and "48 epochs (4 per trial)" in out
    assert "3 epochs (0 per trial + 1 per seed)" in out
    assert f"total: 45 trials in 5 stages; {sum(e for _, e in HAND_COUNT.values())} epochs" in out
    assert "epochs of hmc: one full-batch gradient per leapfrog step" in out
