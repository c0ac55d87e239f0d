"""``--probe``: rates from two timed trials, the stage estimate from them, and a probe of a real sweep."""

from types import SimpleNamespace

import pytest
import yaml
from fake_data import write_every_paper_dataset
from repo_paths import ROOT
from sweep_files import small_sweep, write_sweep

from bdlsweep.cli import main
from bdlsweep.sweeps.cost.training_cost import StageCost
from bdlsweep.sweeps.probe import check_probe_plan, estimate, trial_rates
from bdlsweep.sweeps.spec.loading import load_spec
from bdlsweep.trainables.data.registry import REGISTRY as DATASETS
from bdlsweep.trainables.methods import subspace

SWEEP_FILES = sorted((ROOT / "sweeps").glob("*.yaml"))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_every_paper_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=lambda path: path.stem)
def test_the_probe_of_every_shipped_sweep_plans_settings_that_validate_and_fit_their_parents(path, data_dir):
    reads_files = DATASETS[yaml.safe_load(path.read_text())["dataset"]["name"]].locate is not None
    check_probe_plan(load_spec(path, [f"data_dir={data_dir}"] if reads_files else []))


def test_a_probe_whose_subspace_needs_more_snapshots_than_its_probed_swag_keeps_is_refused(monkeypatch):
    spec = load_spec(ROOT / "sweeps" / "digits_sampling.yaml")
    monkeypatch.setitem(subspace.METHOD.probe_fixed, "rank", 3)  # a probed SWAG keeps 2 snapshots
    with pytest.raises(ValueError, match="probe of stage subspace: rank: rank 3 exceeds the 2 snapshots"):
        check_probe_plan(spec)


def test_two_trials_give_the_seconds_per_pass_and_the_fixed_seconds_per_trial():
    assert trial_rates([2, 4], [3.0, 5.0]) == (1.0, 1.0)
    assert trial_rates([0, 0], [2.0, 4.0]) == (0.0, 3.0)  # a trial that only validates
    assert trial_rates([2, 4], [5.0, 4.0]) == (1.0, 0.0)  # noise: the longer trial was faster


def test_the_stage_estimate_scales_the_rates_by_the_plan():
    stage = SimpleNamespace(name="swag", resources=SimpleNamespace(cpu=2, gpu=0.5))
    cost = StageCost("swag", "swag", trials=12, seeds=3, per_trial=4, per_seed=1, rule="")
    probe = estimate(stage, cost, per_pass=0.5, fixed=2.0, prepare_s=6.0, at_once=4)
    assert probe.trial_seconds == 12 * (2.0 + 0.5 * 4)
    assert probe.wall_s == pytest.approx(48 / 4 + 3 * 6.0 / 3)
    assert probe.cpu_hours == pytest.approx((48 + 18) / 3600 * 2)
    assert probe.gpu_hours == pytest.approx((48 + 18) / 3600 * 0.5)


@pytest.mark.slow  # three short trials per stage through Ray Tune: about a minute
def test_a_probe_times_every_stage_and_writes_nothing_to_the_sweeps_storage(tmp_path, ray_session, capsys):
    sweep = small_sweep(
        "probed",
        {
            "map": {"method": "map", "epochs": 10, "batch_size": 64},
            "llla": {"method": "llla", "from": "map", "search": {"prior_precision": [1.0, 10.0]}},
        },
        {"methods": ["map", "llla"], "ensemble_sizes": [1]},
        model={"name": "mlp", "hidden": [32]},
        seeds=[1, 2],
    )
    path = write_sweep(tmp_path, sweep, "probed.yaml")
    assert main(["run", str(path), f"storage={tmp_path / 'sweep'}", "--probe"]) == 0
    out = capsys.readouterr().out
    assert "probe (three short trials per stage on this machine):" in out
    assert "  map: " in out and "  llla: 0 s per pass" in out and "preparation" in out
    assert "  total: ~" in out and "CPU-hours" in out
    assert not (tmp_path / "sweep").exists()
