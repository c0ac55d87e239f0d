"""``bdlsweep report``: tables, PNG plots and one self-contained HTML page from a sweep's stored results."""

import base64
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bdlsweep.analysis import tables
from bdlsweep.analysis.report import build_report
from bdlsweep.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ORDER = [["1", "MAP"], ["1", "SWAG"], ["2", "DE"], ["2", "MultiSWAG"], ["3", "DE"], ["3", "MultiSWAG"]]


def _fake_sweep(folder) -> pd.DataFrame:
    """A storage folder with a sweep record and tidy ensemble results (no Tune experiments: no search)."""
    rng = np.random.default_rng(0)
    rows = []
    for method, samples in (("map", [1]), ("swag", [2, 8])):
        for size in (1, 2, 3):
            for ensemble in range(3):
                for n in samples:
                    base = {"method": method, "K": size, "ensemble_id": ensemble, "num_samples": n}
                    scores = {
                        "acc": 0.8 + 0.02 * size + rng.normal(0, 0.01),
                        "elpd": -0.6 + 0.05 * size,
                        "ece": 0.05,
                    }
                    complexity = {"params": 20_000 * size, "flops": 1.5e9 * size * n}
                    tested = {**scores, **complexity}
                    rows.append({**base, "split": "test", **{f"test_{k}": v for k, v in tested.items()}})
                    for severity in (1, 3, 5):
                        shifted = {f"shift_{k}": v - 0.03 * severity for k, v in scores.items()}
                        rows.append(
                            {**base, "split": "shift", "corruption": "noise", "severity": severity, **shifted}
                        )
    bins, histograms = [], []
    edges = np.linspace(0, np.log(10), 31)
    for method, samples in (("map", 1), ("swag", 8)):
        for size in (1, 2, 3):
            for ensemble in range(3):
                base = {"method": method, "K": size, "ensemble_id": ensemble, "num_samples": samples}
                auroc = 0.7 + 0.05 * size + rng.normal(0, 0.01)
                rows.append({**base, "split": "ood", "ood_set": "uniform", "ood_auroc": auroc})
                rows.append({**base, "split": "ood", "ood_set": "flipped", "ood_auroc": auroc - 0.1})
                counts = rng.integers(0, 30, 15)
                confidence = np.linspace(0.05, 0.95, 15)
                bins += [
                    {**base, "split": "test", "bin": b, "lower": b / 15, "upper": (b + 1) / 15, "count": c,
                     "confidence": confidence[b], "accuracy": min(confidence[b] * 1.1, 1.0)}
                    for b, c in enumerate(counts)
                ]  # fmt: skip
                for split, ood_set, centre in (("test", "", 5), ("ood", "uniform", 20)):
                    counts = np.histogram(rng.normal(centre, 4, 200).clip(0, 29), bins=range(31))[0]
                    histograms += [
                        {**base, "split": split, "ood_set": ood_set, "score": "predictive entropy (nats)",
                         "bin": b, "lower": edges[b], "upper": edges[b + 1], "count": count}
                        for b, count in enumerate(counts)
                    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    (folder / "evaluation").mkdir(parents=True)
    frame.to_csv(folder / "evaluation" / "ensembles.csv", index=False)
    pd.DataFrame(bins).to_csv(folder / "evaluation" / "reliability.csv", index=False)
    pd.DataFrame(histograms).to_csv(folder / "evaluation" / "ood_scores.csv", index=False)
    record = {
        "name": "fake",
        "dataset": "digits",
        "model": "mlp",
        "table_group": "digits split_seed=0 / mlp",
        "seeds": [1, 2, 3],
        "stages": {"map": {"method": "map", "search": {}}, "swag": {"method": "swag", "search": {}}},
        "evaluate": {"methods": ["map", "swag"]},
        "storage": str(folder),
        "tracking_uri": f"sqlite:///{folder}/mlflow.db",
        "experiment": "fake",
    }
    (folder / "sweep.json").write_text(json.dumps(record))
    return frame


class _Page(HTMLParser):
    """Collects image sources and the cells of each table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    @property
    def rows(self) -> list[list[str]]:
        return self.tables[-1]

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_the_report_holds_the_table_and_every_plot_embedded_in_one_html_page(tmp_path):
    frame = _fake_sweep(tmp_path)
    report = build_report(tmp_path)
    pngs = {name for name in report.files if name.endswith(".png")}
    assert pngs == {
        "metric_vs_K.png",
        "metric_vs_samples.png",
        "metric_vs_severity.png",
        "reliability.png",
        "ood_histograms.png",
    }
    for name in pngs:
        image = (tmp_path / "report" / name).read_bytes()
        assert image.startswith(PNG_SIGNATURE) and len(image) > 5000
    page = _Page()
    page.feed((tmp_path / "report" / "report.html").read_text())
    embedded = [base64.b64decode(src.split(",", 1)[1]) for src in page.images]
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert sorted(embedded) == sorted((tmp_path / "report" / name).read_bytes() for name in pngs)
    group = "digits split_seed=0 / mlp"  # the record's table_group
    table = tables.main_table({group: frame}, methods=["map", "swag"])
    header, *body = page.tables[0]
    assert header == ["K", "Method", f"{group} Acc", f"{group} ELPD", f"{group} ECE"]
    assert [row[:2] for row in body] == ORDER
    rows = tables.final_test_rows(frame)
    mean = rows[(rows["method"] == "swag") & (rows["K"] == 2)]["test_acc"].mean()
    assert body[3][2].startswith(f"{mean:.3f} ± ")
    assert (tmp_path / "report" / "table.md").read_text() == tables.to_markdown(table, stderr=True)
    csv = pd.read_csv(io.StringIO((tmp_path / "report" / "table.csv").read_text()))
    assert csv[f"{group} acc mean"].iloc[3] == pytest.approx(mean)

    groups = page.tables[1:]  # the metric groups, as TorchUncertainty's tutorial prints them, a table each
    assert [header[2:] for header, *_ in groups] == [
        ["Classification Acc"],
        ["Calibration ECE"],
        ["OOD AUROC"],
        ["Complexity Params", "Complexity FLOPs"],
    ]
    assert all([row[:2] for row in body] == ORDER for _, *body in groups)
    ood = frame[(frame["split"] == "ood") & (frame["method"] == "swag") & (frame["K"] == 2)]
    assert ood["ood_set"].nunique() == 2
    assert groups[2][4][2] == f"{ood['ood_auroc'].mean():.3f}"  # mean over OOD sets, then over ensembles
    assert groups[3][4][2:] == ["40.00 K", "24.00 G"]  # 2 members; 8 samples at 1.5 G per member and sample
    groups_file = (tmp_path / "report" / "metric_groups.md").read_text()
    assert groups_file.startswith("| K | Method | Classification Acc")


def test_report_of_a_folder_without_results_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "sweep.json: not a bdlsweep storage folder" in capsys.readouterr().err


def _cut_last_row(path: Path) -> None:
    """The file as a run stopped mid-write would leave it: its last row cut after two fields."""
    *rows, last = path.read_text().rstrip("\n").split("\n")
    path.write_text("\n".join([*rows, ",".join(last.split(",")[:2])]) + "\n")


def _selection(folder: Path, members: object) -> None:
    record = {"label": "swag", "stage": "swag", "method": "swag", "metric": "val_elpd", "members": members}
    (folder / "selections").mkdir(exist_ok=True)
    (folder / "selections" / "swag.json").write_text(json.dumps(record))


DAMAGES = [
    ("report", "evaluation/ensembles.csv", lambda path: path.write_text("method,K,ensem"), "holds no rows"),
    ("report", "evaluation/ensembles.csv", _cut_last_row, "a row without its method"),
    ("report", "evaluation/ensembles.csv", lambda path: path.write_bytes(b"\xff"), "not a readable CSV"),
    ("status", "selections/swag.json", lambda path: path.write_text("{"), "not readable JSON"),
    ("status", "selections/swag.json", lambda path: _selection(path.parents[1], 3), "members is not a dict"),
    ("report", "selections/swag.json", lambda path: _selection(path.parents[1], {"1": 2}), "member '1'"),
]


@pytest.mark.parametrize(("command", "relative", "damage", "problem"), DAMAGES)
def test_a_results_file_changed_by_hand_is_one_line_naming_it(
    tmp_path, capsys, command, relative, damage, problem
):
    _fake_sweep(tmp_path)
    member = {"trial_id": "t1", "checkpoint": "swag/t1/checkpoint_000000", "config": {}, "metrics": {}}
    _selection(tmp_path, {"1": member})
    damage(tmp_path / relative)
    assert main([command, str(tmp_path)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: {tmp_path / relative}: "), errors
    assert problem in errors[0], errors[0]


def test_a_moved_or_copied_folder_reports_into_its_own_store_and_writes_nothing_outside(tmp_path, caplog):
    from mlflow.tracking import MlflowClient

    from bdlsweep.storage.layout import SweepLayout
    from bdlsweep.sweeps.tracking.records import ensure_experiment

    original = tmp_path / "original"
    _fake_sweep(original)
    layout = SweepLayout.at(original)
    experiment = ensure_experiment(layout.default_tracking_uri, "fake", layout.mlflow_artifacts)
    tags = {"sweep": "fake", "storage": str(original), "run_kind": "sweep"}
    parent = MlflowClient(layout.default_tracking_uri).create_run(experiment, tags=tags).info.run_id
    copied, moved = tmp_path / "copied", tmp_path / "moved"
    shutil.copytree(original, copied)
    before = {path: path.stat().st_mtime_ns for path in original.rglob("*")}
    assert main(["report", str(copied)]) == 0
    assert {path: path.stat().st_mtime_ns for path in original.rglob("*")} == before
    assert "its artifacts live in" in caplog.text  # the copied store's runs keep the old artifact place
    copied_store = MlflowClient(SweepLayout.at(copied).default_tracking_uri)
    assert copied_store.get_run(parent).info.status == "RUNNING"  # found in the copy's own store

    shutil.move(original, moved)
    assert main(["report", str(moved)]) == 0
    assert not original.exists()  # no tracking store, artifact folder or anything else made there
    assert (moved / "report" / "report.html").is_file()


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="Debian's chromium package is not installed (.ci/run installs it, and CI fails without it)",
)
def test_report_html_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    _fake_sweep(tmp_path)
    page = build_report(tmp_path).files["report.html"].path
    shot = tmp_path / "shot.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,1600", page.as_uri()],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 10 and (pixels < 128).mean() > 0.005  # text, table and plots, not a blank page


LAYOUT_PROBE = """<script>window.addEventListener("load", () => {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("table, figure, img, p, li, h1, h2")]
    .filter(e => e.getBoundingClientRect().right > width + 1 || e.scrollWidth > e.clientWidth + 1)
    .map(e => e.tagName + ": " + e.textContent.slice(0, 40));
  document.body.dataset.layout = JSON.stringify({width, page: document.documentElement.scrollWidth, wide});
});</script>"""


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="Debian's chromium package is not installed (.ci/run installs it, and CI fails without it)",
)
@pytest.mark.parametrize("width", [1000, 600])
def test_report_html_fits_a_narrow_window_without_scrolling_sideways(tmp_path, width):
    """In a browser window of ``width`` pixels the page does not scroll sideways, and no table, figure
    or paragraph is wider than the page or scrolls inside itself (wide metric groups are split)."""
    _fake_sweep(tmp_path)
    page = build_report(tmp_path).files["report.html"].path
    probe = page.with_name("layout_probe.html")
    probe.write_text(page.read_text().replace("</body>", LAYOUT_PROBE + "</body>"))
    dom = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1600",
         "--dump-dom", probe.as_uri()],
        check=True, capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    layout = json.loads(html.unescape(re.search(r'data-layout="([^"]*)"', dom).group(1)))
    assert layout["width"] == width and layout["page"] <= width and layout["wide"] == []
    assert dom.count("<table>") >= 3  # the main table and the metric groups, one table per group


@pytest.mark.slow  # starts a server process / runs the benchmark script: 25-35 s
def test_ui_serves_the_sweeps_tracking_store_on_localhost(tmp_path):
    import json as json_module
    import sys
    import urllib.request

    from local_servers import free_port, stop_server, wait_until_answering
    from mlflow.tracking import MlflowClient

    _fake_sweep(tmp_path)
    MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").create_experiment("fake")
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "bdlsweep", "ui", str(tmp_path), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_answering(f"http://127.0.0.1:{port}/health", server, log)
        deadline = time.monotonic() + 30
        while "serving" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        lines = log.read_text().splitlines()
        said = [line for line in lines if line.startswith(("starting the MLflow UI", "MLflow UI serving"))]
        assert said == [
            f"starting the MLflow UI for sqlite:///{tmp_path}/mlflow.db ...",
            f"MLflow UI serving on http://127.0.0.1:{port} (Ctrl+C stops it)",
        ]
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=fake"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert json_module.load(answer)["experiment"]["name"] == "fake"
        group = _group_of(server.pid)  # the bdlsweep command, the mlflow server and its workers
        server.send_signal(signal.SIGTERM)  # only to the command: it stops the server's own group
        server.wait(timeout=30)
        assert _alive(group) == set()
    finally:
        stop_server(server)


def _group_of(leader: int) -> set[int]:
    """Every process whose process group is led by ``leader`` or by one of its children."""
    groups = {leader}
    members = set()
    for _ in range(3):
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            pid, parent, group = int(stat.parent.name), int(fields[1]), int(fields[2])
            if group in groups or parent in members | {leader}:
                members.add(pid)
                groups.add(group)
    return members


def _alive(pids: set[int]) -> set[int]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        living = {pid for pid in pids if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)}
        if not living:
            return living
        time.sleep(0.2)
    return living


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "Z"


def test_the_ood_legend_shows_the_mean_auroc_of_the_largest_ensembles(tmp_path):
    from bdlsweep.analysis.diagnostic_plots import mean_auroc

    frame = _fake_sweep(tmp_path)
    ood = frame[(frame["split"] == "ood") & (frame["method"] == "swag") & (frame["K"] == 3)]
    uniform = ood[ood["ood_set"] == "uniform"]
    assert mean_auroc(frame, "swag", 3, "uniform") == pytest.approx(uniform["ood_auroc"].mean())
    assert len(uniform) == 3
