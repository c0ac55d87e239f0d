"""Sweep storage as a bucket: an S3 API (moto's server on 127.0.0.1) holding everything a sweep writes."""

import logging
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from local_servers import S3_BUCKET
from sweep_files import small_sweep, write_sweep

from bdlsweep.analysis import results
from bdlsweep.storage.locations import Location
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.methods.map import MAPPosterior

BUCKET = S3_BUCKET
TINY_SWEEP = small_sweep(
    "tiny",
    {
        "map": {"method": "map", "epochs": 3, "batch_size": 64},
        "llla": {
            "method": "llla",
            "from": "map",
            "hessian": "full",
            "search": {"prior_precision": [1.0, 10.0]},
        },
    },
    {
        "methods": ["map"],  # LLLA's references are read back from the copies without Ray (below)
        "ensemble_sizes": [1, 2],
        "ensembles_per_size": 1,
        "num_posterior_samples": 4,
    },
    model={"name": "mlp", "hidden": [32]},
    seeds=[1, 2],
)


def _keys(prefix: str) -> list[str]:
    import boto3

    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.parametrize("kind", ["local", "file", "s3"])
def test_a_location_joins_writes_reads_and_lists_the_same_way_everywhere(kind, tmp_path, s3_environment):
    root = {"local": str(tmp_path), "file": tmp_path.as_uri(), "s3": f"s3://{BUCKET}/unit/"}[kind]
    base = Location.parse(root) / "sweep"
    assert str(base).endswith("/sweep") and not str(base).endswith("//sweep")
    assert not (base / "evaluation" / "table.md").is_file()
    (base / "evaluation" / "table.md").write_text("| a |\n")
    (base / "evaluation/table.csv").write_bytes(b"a\n1\n")
    assert (base / "evaluation" / "table.md").read_text() == "| a |\n"
    (base / "evaluation" / "table.md").write_text("| b |\n")  # replaced whole
    assert (base / "evaluation" / "table.md").read_text() == "| b |\n"
    assert [child.name for child in (base / "evaluation").children()] == ["table.csv", "table.md"]
    assert (base / "evaluation").is_dir() and (base / "missing").children() == []
    with pytest.raises(FileNotFoundError, match=r"missing\.json"):
        (base / "missing.json").read_text()
    if kind != "s3":  # no staging file is left beside the written one
        assert sorted(p.name for p in (tmp_path / "sweep" / "evaluation").iterdir()) == [
            "table.csv",
            "table.md",
        ]
    assert base.as_uri().startswith({"local": "file:///", "file": "file:///", "s3": "s3://"}[kind])
    moved = base.on_same_filesystem(f"{tmp_path}/x" if kind != "s3" else f"{BUCKET}/unit/x")
    assert (
        str(moved)
        == {"local": f"{tmp_path}/x", "file": f"file://{tmp_path}/x", "s3": "s3://sweeps/unit/x"}[kind]
    )


def test_a_bucket_storage_needs_an_explicit_tracking_uri(tmp_path, s3_environment):
    from bdlsweep.sweeps.reading.errors import SpecError
    from bdlsweep.sweeps.spec.loading import load_spec

    sweep = write_sweep(tmp_path, TINY_SWEEP, "tiny.yaml")
    with pytest.raises(SpecError, match=r"mlflow\.tracking_uri: required when storage is a URI"):
        load_spec(sweep, [f"storage=s3://{BUCKET}/validated/tiny"])
    spec = load_spec(
        sweep, [f"storage=s3://{BUCKET}/validated/tiny/", "mlflow.tracking_uri=http://127.0.0.1:5000"]
    )
    assert str(spec.storage) == f"s3://{BUCKET}/validated/tiny"
    assert _keys("validated/") == []  # validating writes nothing


def _recorded(runs) -> list:
    """The trial and evaluation runs (not the parent runs of sweep and stages, nor the ensemble runs)."""
    return [run for run in runs if run.data.tags.get("run_kind") in ("trial", "evaluation")]


@pytest.mark.slow
def test_a_sweep_stored_in_a_bucket_keeps_every_file_there_and_resumes_from_it(
    tmp_path, ray_session, monkeypatch, caplog
):
    from mlflow.tracking import MlflowClient

    from bdlsweep.cli import main

    sweep = write_sweep(tmp_path, TINY_SWEEP, "tiny.yaml")
    storage = f"s3://{BUCKET}/runs/tiny"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # the session's Ray runs the trials, its workers in the bucket's environment
    assert main(["run", str(sweep), f"storage={storage}", f"mlflow.tracking_uri={tracking}"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db", "tiny.yaml"]  # nothing written locally
    keys = set(_keys("runs/tiny/"))
    expected = [
        "sweep.json", "source.yaml", "selections/map.json", "selections/llla.json",
        "evaluation/ensembles.csv", "evaluation/settings.json", "results/table.md", "results/table.tex",
        "prepared/llla/seed_1/metadata.json", "prepared/llla/seed_2/state.pt",
        "map/tuner.pkl", "llla/tuner.pkl",
    ]  # fmt: skip
    assert {f"runs/tiny/{name}" for name in expected} <= keys

    chosen = results.selections(storage)
    assert len(chosen) == 4 and chosen["checkpoint"].str.startswith(f"{storage}/").all()
    validation = load_dataset("digits", {}).val
    for member in chosen[chosen["label"] == "map"].itertuples():  # read back from the bucket, as reported
        log_probs = MAPPosterior.load(member.checkpoint).predict(validation.inputs, 1, torch.Generator())[0]
        accuracy = (log_probs.argmax(-1) == validation.labels).double().mean().item()
        assert accuracy == pytest.approx(member.val_acc, abs=1e-6)
    assert len(results.trials(storage, "map")) == 2 and len(results.trials(storage, "llla")) == 4
    assert set(results.ensembles(storage)["K"]) == {1, 2}

    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("tiny")
    assert experiment.artifact_location == f"{storage}/mlartifacts"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len(_recorded(runs)) == 7  # 6 trials and the evaluation
    (evaluation,) = [run for run in runs if run.data.tags.get("stage") == "evaluate"]
    assert {item.path for item in client.list_artifacts(evaluation.info.run_id)} >= {
        "ensembles.csv",
        "table.md",
    }

    _check_copies_load_without_the_original(storage, tmp_path, chosen, caplog)


def _copy_prefix(source: str, target: str) -> None:
    import boto3

    client = boto3.client("s3")
    for key in _keys(source):
        client.copy_object(
            Bucket=BUCKET, Key=target + key[len(source) :], CopySource={"Bucket": BUCKET, "Key": key}
        )


def _delete_prefix(prefix: str) -> None:
    import boto3

    for key in _keys(prefix):
        boto3.client("s3").delete_object(Bucket=BUCKET, Key=key)


def _llla_predicts_as_selected(storage: str) -> None:
    """Each selected LLLA member of ``storage`` loads (its MAP checkpoint and prepared folder found
    through references relative to the storage root) and predicts its recorded validation accuracy."""
    from bdlsweep.trainables.posteriors.head_laplace import LLLAPosterior

    validation = load_dataset("digits", {}).val
    chosen = results.selections(storage)
    for member in chosen[chosen["label"] == "llla"].itertuples():
        posterior = LLLAPosterior.load(member.checkpoint)
        log_probs = posterior.predict(validation.inputs, 30, torch.Generator().manual_seed(0))
        accuracy = (log_probs.logsumexp(0).argmax(-1) == validation.labels).double().mean().item()
        assert accuracy == pytest.approx(member.val_acc, abs=0.05)


def _check_copies_load_without_the_original(
    storage: str, tmp_path: Path, chosen: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """A finished sweep copied to another bucket prefix and to a local folder, the original then deleted:
    in each copy LLLA's references resolve, `status` reads it, the surface command's checkpoints load;
    the local copy's report is built and `resume` finds it finished; in the bucket copy, a stage whose
    selection was lost resumes from its Tuner there and selects as before, and the ensembles are
    evaluated again."""
    import boto3

    from bdlsweep.analysis.report import build_report
    from bdlsweep.cli import main
    from bdlsweep.sweeps.studies.surface import SurfaceInputError, checkpoint_weights

    copied, local = f"s3://{BUCKET}/moved/tiny", tmp_path / "local_copy"
    _copy_prefix("runs/tiny/", "moved/tiny/")
    for key in _keys("runs/tiny/"):
        target = local / key[len("runs/tiny/") :]
        if not key.endswith("/"):  # folder markers
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(Location.parse(f"s3://{BUCKET}/{key}").read_bytes())
    _delete_prefix("runs/tiny/")
    llla = yaml.safe_load(Location.parse(f"{copied}/selections/llla.json").read_text())["members"]["1"]
    assert not llla["checkpoint"].startswith(("/", "s3://"))  # recorded relative to the storage root
    train_inputs = load_dataset("digits", {}).train.inputs
    for folder in (copied, str(local)):
        _llla_predicts_as_selected(folder)
        assert main(["status", folder]) == 0
        assert checkpoint_weights(Location.parse(folder), "map:1", train_inputs)[1].name == "mlp"
        with pytest.raises(SurfaceInputError, match="llla:1: a llla checkpoint is a distribution over"):
            checkpoint_weights(Location.parse(folder), "llla:1", train_inputs)
    assert "table.md" in build_report(local).files
    caplog.set_level(logging.INFO, logger="bdlsweep")
    assert main(["resume", str(local)]) == 0  # in this process: the local copy needs no bucket
    assert "stage llla: finished earlier, skipped" in caplog.text and _keys("runs/tiny/") == []

    boto3.client("s3").delete_object(Bucket=BUCKET, Key="moved/tiny/selections/llla.json")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    overrides = [f"storage={copied}", f"mlflow.tracking_uri={tracking}", "evaluate.num_posterior_samples=6"]
    caplog.clear()
    assert main(["run", str(tmp_path / "tiny.yaml"), *overrides]) == 0
    assert "stage map: finished earlier, skipped" in caplog.text
    assert f"resuming from {copied}/llla" in caplog.text  # the Tuner restored from the bucket copy
    after = results.selections(copied)
    assert after.sort_values(["label", "seed"])["trial_id"].tolist() == (
        chosen.sort_values(["label", "seed"])["trial_id"].tolist()
    )
    frame = results.ensembles(copied)
    assert set(frame["method"]) == {"map"} and len(frame) > 0
