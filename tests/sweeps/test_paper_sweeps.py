"""The papers' sweep files validate and dry-run on data in the public formats, and run end to end."""

import re
from pathlib import Path

import pytest
from fake_data import write_every_paper_dataset
from repo_paths import ROOT

from bdlsweep.cli import main
from bdlsweep.sweeps.pipeline import run_sweep
from bdlsweep.sweeps.spec.loading import load_spec

SWEEPS = ROOT / "sweeps"
CIFAR_SWEEPS = ["cifar10_wrn16_4", "cifar10_wrn28_10", "cifar100_wrn16_4", "cifar10_multiswag"]
CPU_ONLY = [
    "stages.map.resources={cpu: 1, gpu: 0}",
    "stages.swag.resources={cpu: 1, gpu: 0}",
    "evaluate.resources={cpu: 1, gpu: 0}",
]
LAPLACE_CPU_ONLY = ["stages.llla.resources={cpu: 1, gpu: 0}", "stages.laplace_nf.resources={cpu: 1, gpu: 0}"]
SMALL_WRN = ["model.depth=10", "model.widen_factor=1"]  # WRN-10-1: the pipeline, not the network, is tested
ONE_SEED = ["seeds=[1]", "evaluate.ensemble_sizes=[1]"]  # sweeps whose test needs no ensembles
# LA-NF builds on LLLA's head features whatever the backbone; the CIFAR sweeps run it, these skip it
WITHOUT_LA_NF = ["~stages.laplace_nf", "evaluate.methods=[map,swa,swag,llla]"]
TINY_LAPLACE_STAGES = [
    "stages.swag.search.lr=[0.01]",
    "stages.llla.search.prior_precision=[1.0]",
    "stages.llla.val_samples=3",
    "stages.laplace_nf.search.prior_precision=[10]",
    "stages.laplace_nf.num_transforms=1",
    "stages.laplace_nf.epochs=1",
    "stages.laplace_nf.val_samples=3",
    *LAPLACE_CPU_ONLY,
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_every_paper_dataset(tmp_path_factory.mktemp("data"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cifar10_wrn16_4", {"map": 30, "swag": 630, "llla": 630, "laplace_nf": 450}),
        ("cifar10_wrn28_10", {"map": 30, "swag": 630, "llla": 630, "laplace_nf": 450}),
        ("cifar100_wrn16_4", {"map": 30, "swag": 630, "llla": 630, "laplace_nf": 450}),
        ("cifar10_multiswag", {"map": 10, "swag": 10}),
        ("sst2_bert", {"map": 30, "swag": 630, "llla": 630, "laplace_nf": 450}),
        ("qm9_painn", {"map": 30, "swag": 900, "llla": 630, "laplace_nf": 450}),
        ("mnist_mlp_hmc", {"hmc": 3}),
        ("mnist_lenet_ensembles", {"map": 4, "packed": 4}),
        ("imdb_cnn_lstm_hmc", {"hmc_t1": 3, "hmc_t03": 3, "hmc_t01": 3, "hmc_t003": 3, "sghmc": 12}),
    ],
)
def test_dry_run_prints_stages_trials_and_resources(name, expected, data_dir, capsys):
    code = main(["run", str(SWEEPS / f"{name}.yaml"), f"data_dir={data_dir}", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0, out
    for stage, trials in expected.items():
        line = next(line for line in out.splitlines() if line.startswith(f"stage {stage} "))
        assert f": {trials} trials" in line and "gpu=" in line
    assert f"total: {sum(expected.values())} trials" in out
    assert not (Path.cwd() / "runs" / name).exists()


def test_the_papers_cifar10_plan_predicts_each_member_once(data_dir, capsys):
    assert main(["run", str(SWEEPS / "cifar10_wrn16_4.yaml"), f"data_dir={data_dir}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 150 ensembles of 30 members: 1,140 member passes per set for the deep ensembles before, 30 now;
    # 200 samples per ensemble before, 200 per member now
    assert "  map: 30 member tasks; sampled forward passes per set 30 (per ensemble: 1140)" in out
    assert "  swag: 30 member tasks; sampled forward passes per set 6000 (per ensemble: 30000)" in out
    assert (
        "  total: 150 member tasks; sampled forward passes per set 18060 (per ensemble: 92280; 5.1× fewer)"
        in out
    )


def test_paper_settings_are_the_papers(data_dir):
    spec = load_spec(SWEEPS / "cifar10_wrn16_4.yaml", [f"data_dir={data_dir}"])
    assert spec.dataset_options["data_dir"] == str(data_dir.resolve())
    assert spec.stages["swag"].search["lr"][0] == 0.1 and len(spec.stages["swag"].search["lr"]) == 21
    assert spec.stages["map"].settings.optimizer.lr == 0.1 and spec.stages["map"].settings.augment
    assert not spec.stages["swag"].settings.augment
    assert spec.evaluate.num_posterior_samples == 200 and spec.evaluate.subsample_sizes[-1] == 200
    wide = load_spec(SWEEPS / "cifar10_wrn28_10.yaml", [f"data_dir={data_dir}"])
    assert wide.stages["llla"].settings.hessian == "diag" and wide.stages["swag"].settings.rank == 25


def test_missing_data_stops_a_run_in_one_line_naming_every_set_and_a_dry_run_plans_anyway(tmp_path, capsys):
    paper = str(SWEEPS / "cifar10_wrn16_4.yaml")
    code = main(["run", paper, f"data_dir={tmp_path}", f"storage={tmp_path / 's'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "dataset.data_dir" in err
    sets = (
        "cifar-10-batches-py/data_batch_1",
        "CIFAR-10-C/labels.npy",
        "test_32x32.mat",
        "cifar-100-python/test",
    )
    assert all(name in err for name in sets) and "cs.toronto.edu" in err and "dataset.download=true" in err
    assert main(["run", paper, f"data_dir={tmp_path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "total: 1740 trials in 4 stages" in out  # the paper's plan, from the sweep file alone
    assert "note: a run from here would stop: dataset.data_dir: " in out and all(name in out for name in sets)
    code = main(["run", str(SWEEPS / "quickstart.yaml"), f"data_dir={tmp_path}", "--dry-run"])
    assert code == 2 and "reads no files" in capsys.readouterr().err


@pytest.mark.parametrize("sweep", sorted(SWEEPS.glob("*.yaml")), ids=lambda path: path.stem)
def test_every_sweep_file_plans_without_its_data(sweep, tmp_path, capsys):
    """A dry run of a sweep file that reads data files prints its whole plan from an empty data_dir and
    lists what a run would lack; one that reads none says data_dir is not its option."""
    code = main(["run", str(sweep), f"data_dir={tmp_path}", "--dry-run"])
    out, err = capsys.readouterr()
    if code == 2:
        assert "reads no files" in err and len(err.strip().splitlines()) == 1
        return
    assert code == 0 and re.search(r"^total: \d+ trials in \d+ stages", out, re.MULTILINE)
    assert "note: a run from here would stop: dataset.data_dir: " in out


def test_gpu_request_on_a_cpu_cluster_is_refused_before_training(data_dir, tmp_path, ray_session):
    from bdlsweep.sweeps.reading.errors import SpecError

    spec = load_spec(SWEEPS / "cifar10_multiswag.yaml", [f"data_dir={data_dir}", f"storage={tmp_path / 's'}"])
    with pytest.raises(SpecError, match=r"stages\.map\.resources: asks for cpu=2, gpu=0\.5"):
        run_sweep(spec)
    assert not (tmp_path / "s").exists()


def _tiny(data_dir: Path, storage: Path) -> list[str]:
    return [
        f"data_dir={data_dir}",
        f"storage={storage}",
        "seeds=[1,2]",
        "dataset.val_size=40",
        "stages.map.epochs=1",
        "stages.map.batch_size=32",
        "stages.swag.epochs=2",
        "stages.swag.rank=2",
        "stages.swag.batch_size=32",
        "stages.swag.val_samples=2",
        "evaluate.ensemble_file=null",
        "evaluate.ensemble_sizes=[1,2]",
        "evaluate.ensembles_per_size=1",
        "evaluate.num_posterior_samples=4",
        "evaluate.subsample_sizes=[2,4]",
        *CPU_ONLY,
    ]


@pytest.mark.slow
def test_cifar10_wrn16_4_sweep_end_to_end_on_fake_cifar(data_dir, tmp_path, ray_session):
    from bdlsweep.analysis import results

    overrides = [
        *_tiny(data_dir, tmp_path / "sweep"),
        *SMALL_WRN,
        *TINY_LAPLACE_STAGES,
        "stages.llla.search.prior_precision=[1.0,100.0]",
        "stages.laplace_nf.num_transforms=2",
        "stages.map.speed={precision: bf16, channels_last: true, train_data: host, loader_workers: 1}",
        "stages.swag.speed.train_data=host",
    ]
    outcome = run_sweep(load_spec(SWEEPS / "cifar10_wrn16_4.yaml", overrides))
    trials = results.trials(outcome.storage, "map")
    assert len(trials) == 2 and (trials["epoch"] == 1).all()
    frame = outcome.ensembles
    assert set(frame["method"]) == {"map", "swa", "swag", "llla", "laplace_nf"}
    shift = frame[frame["split"] == "shift"]
    assert set(shift["corruption"]) == {"gaussian_noise", "contrast"}
    assert set(shift["severity"]) == set(range(1, 6))
    assert set(frame[frame["split"] == "ood"]["ood_set"]) == {"svhn", "cifar100"}
    assert frame["test_elpd"].notna().any()
    assert "| 2 | MultiSWAG |" in outcome.table_files["markdown"].read_text()


@pytest.mark.slow
def test_multiswag_and_cifar100_sweeps_end_to_end_on_fake_data(data_dir, tmp_path, ray_session):
    multiswag_overrides = [  # PreResNet-8; CIFAR-10-C and the OOD sets are the CIFAR-10 test's
        *_tiny(data_dir, tmp_path / "multi"),
        "model.depth=8",
        "evaluate.splits=[test]",
    ]
    multiswag = run_sweep(load_spec(SWEEPS / "cifar10_multiswag.yaml", multiswag_overrides))
    assert set(multiswag.ensembles["method"]) == {"map", "swa", "swag"}
    cifar100_overrides = [
        *_tiny(data_dir, tmp_path / "c100"),
        *SMALL_WRN,
        *TINY_LAPLACE_STAGES,
        "dataset.val_size=20",
        "stages.llla.hessian=diag",
        "stages.llla.prior_precision_method=marglik",
        "stages.laplace_nf.base=diag",
        *ONE_SEED,
    ]
    cifar100 = run_sweep(load_spec(SWEEPS / "cifar100_wrn16_4.yaml", cifar100_overrides))
    shift = cifar100.ensembles[cifar100.ensembles["split"] == "shift"]
    assert set(shift["corruption"]) == {"gaussian_noise"}
    assert cifar100.ensembles["test_acc"].dropna().between(0, 1).all()
    from bdlsweep.analysis import results

    fitted = results.trials(cifar100.storage, "llla")["fitted_prior_precision"]
    assert (fitted > 0).all() and (fitted != 1.0).all()  # marglik, not the grid value


@pytest.mark.slow
def test_sst2_bert_sweep_end_to_end_with_a_tokenizer_saved_once(data_dir, tmp_path, ray_session):
    tiny_bert = [
        "model.hidden_size=32",
        "model.num_layers=1",
        "model.num_heads=2",
        "model.intermediate_size=64",
    ]
    overrides = [
        *_tiny(data_dir, tmp_path / "sst2"),
        *tiny_bert,
        "dataset.vocab_size=200",
        *TINY_LAPLACE_STAGES,
        *ONE_SEED,
        *WITHOUT_LA_NF,
    ]
    overrides.remove("dataset.val_size=40")
    outcome = run_sweep(load_spec(SWEEPS / "sst2_bert.yaml", overrides))
    assert [path.name for path in (outcome.storage.path / "data").iterdir()] == ["sst2-wordpiece-200.json"]
    assert set(outcome.ensembles["split"]) == {"test"}
    assert set(outcome.ensembles["method"]) == {"map", "swa", "swag", "llla"}


@pytest.mark.slow
def test_qm9_painn_sweep_end_to_end_reports_test_metrics_in_ev(data_dir, tmp_path, ray_session):
    overrides = [
        *_tiny(data_dir, tmp_path / "qm9"),
        "dataset.train_size=24",
        "dataset.val_size=6",
        "model.features=16",
        "model.layers=1",
        "model.radial=8",
        "stages.map.batch_size=8",
        "stages.swag.batch_size=8",
        *TINY_LAPLACE_STAGES,
        "stages.swag.search.lr=[1.0e-4]",
        "stages.llla.search.prior_precision=[1.0,100.0]",
        *ONE_SEED,
        *WITHOUT_LA_NF,
    ]
    overrides.remove("dataset.val_size=40")
    outcome = run_sweep(load_spec(SWEEPS / "qm9_painn.yaml", overrides))
    frame = outcome.ensembles
    assert set(frame["method"]) == {"map", "swa", "swag", "llla"} and set(frame["split"]) == {"test"}
    assert frame["test_rmse"].between(0.01, 10).all()
    assert "RMSE" in outcome.table_files["markdown"].read_text()


@pytest.mark.slow
def test_mnist_mlp_hmc_sweep_end_to_end_on_fake_mnist(data_dir, tmp_path, ray_session):
    overrides = [
        f"data_dir={data_dir}",
        f"storage={tmp_path / 'hmc'}",
        "seeds=[1,2]",
        "dataset.val_size=20",
        "dataset.train_subset=60",
        "dataset.corruptions=[contrast]",
        "stages.hmc.iterations=3",
        "stages.hmc.burn_in=1",
        "stages.hmc.trajectory_length=3.0e-4",
        "stages.hmc.resources={cpu: 1, gpu: 0}",
        "evaluate.ensemble_sizes=[1,2]",
        "evaluate.ensembles_per_size=1",
        "evaluate.num_posterior_samples=4",
        "evaluate.subsample_sizes=[2,4]",
        "evaluate.resources={cpu: 1, gpu: 0}",
    ]
    outcome = run_sweep(load_spec(SWEEPS / "mnist_mlp_hmc.yaml", overrides))
    chains = outcome.ensembles
    assert set(chains["split"]) == {"test", "shift", "ood"} and set(chains["K"]) == {1, 2}
    assert set(chains[chains["split"] == "ood"]["ood_set"]) == {"fashion_mnist"}
