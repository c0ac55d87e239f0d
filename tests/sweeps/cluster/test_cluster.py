"""The cluster's files: the launcher file and the submit entry point's arguments (sweeps on a running
cluster: test_autoscaling_cluster.py)."""

import json
import re
from importlib import resources

import jsonschema
import yaml
from repo_paths import ROOT

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"


def _readme_install_command() -> str:
    """The install part of the README's quick-start command."""
    command = re.search(
        r"```bash\n(.*&& bdlsweep run sweeps/quickstart.yaml)\n```", (ROOT / "README.md").read_text()
    )
    return command.group(1).split("&&")[0].strip()


def test_cluster_yaml_is_a_valid_launcher_file_that_installs_as_the_readme_does():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    schema = json.loads(resources.files("ray.autoscaler").joinpath("ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    assert config["provider"]["type"] == "aws"
    assert config["head_node_type"] in config["available_node_types"]
    workers = {name: node for name, node in config["available_node_types"].items() if name != "head"}
    assert workers and all(node["node_config"]["InstanceType"].startswith("g") for node in workers.values())
    assert all(node["max_workers"] >= node["min_workers"] for node in workers.values())
    install = _readme_install_command()
    assert install == "python -m pip install -e '.[dev]'"
    assert any(command.endswith(install) for command in config["setup_commands"])
    assert config["file_mounts"] == {"~/bdlsweep": "."}
    head = " ".join(config["head_start_ray_commands"])
    assert "mlflow server" in head and '--backend-store-uri "$(cat ~/mlflow-store-uri)"' in head
    store = next(c for c in config["head_setup_commands"] if "> ~/mlflow-store-uri" in c)
    assert "'postgresql+psycopg2://mlflow:mlflow@127.0.0.1:5432/mlflow'" in store  # not SQLite on NFS
    assert any("CREATE ROLE mlflow" in command for command in config["head_setup_commands"])
    assert '--host "$(hostname -I' in head and "0.0.0.0" not in head  # the head's private address only
    assert "ray start --head" in head and "--dashboard-host=127.0.0.1" in head


def test_submit_runs_bdlsweep_with_the_cluster_defaults_and_user_overrides_last(monkeypatch, tmp_path):
    from bdlsweep.submit import cluster_arguments

    monkeypatch.chdir(tmp_path)  # as `ray submit` runs it: from the home folder, not the project
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://10.0.0.5:5000")
    arguments = cluster_arguments(["sweeps/quickstart.yaml", "seeds=2", "--storage-root", "/shared/runs"])
    assert arguments == [
        "run",
        str(QUICKSTART),
        "ray.address=auto",
        "mlflow.tracking_uri=http://10.0.0.5:5000",
        "storage=/shared/runs/quickstart",
        "seeds=2",
    ]
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setattr("ray.util.get_node_ip_address", lambda: "10.0.0.7")
    assert "mlflow.tracking_uri=http://10.0.0.7:5000" in cluster_arguments([str(QUICKSTART), "--dry-run"])
