"""Report plots: a method keeps its colour in every plot, and the legend sits outside the panels."""

import pandas as pd
from matplotlib.colors import to_hex

from bdlsweep.analysis import report_plots


def _ensembles() -> pd.DataFrame:
    rows = []
    for method, sampled in (("map", False), ("swag", True), ("llla", True)):
        for size in (1, 2):
            for samples in (5, 10) if sampled and size == 1 else (10,):
                scores = {"test_acc": 0.9, "test_elpd": -0.3, "test_ece": 0.02}
                rows.append({"method": method, "K": size, "ensemble_id": 0, "num_samples": samples,
                             "split": "test", **scores})  # fmt: skip
    return pd.DataFrame(rows)


def _drawn(monkeypatch, plot) -> tuple[dict[str, str], object]:
    """Each legend label's line colour in the figure ``plot`` draws, and the figure."""
    figures = []
    monkeypatch.setattr(report_plots, "png_bytes", lambda figure: figures.append(figure) or b"png")
    assert plot(_ensembles()) == b"png"
    (figure,) = figures
    axis = figure.axes[-1]
    handles, labels = axis.get_legend_handles_labels()
    pairs = zip(handles, labels, strict=True)
    colors = {label: to_hex(handle.lines[0].get_color()) for handle, label in pairs}
    return colors, figure


def test_a_method_keeps_its_colour_when_another_is_left_out(monkeypatch):
    by_size, _ = _drawn(monkeypatch, report_plots.plot_metric_vs_size)
    by_samples, figure = _drawn(monkeypatch, report_plots.plot_metric_vs_samples)
    assert set(by_size) == {"MAP", "SWAG", "LLLA"} and set(by_samples) == {"SWAG", "LLLA"}  # no MAP curve
    assert all(by_samples[name] == by_size[name] for name in by_samples)
    assert len(set(by_size.values())) == 3
    figure.canvas.draw()
    legend = figure.axes[-1].get_legend().get_window_extent()
    assert legend.x0 >= figure.axes[-1].get_window_extent().x1  # right of the last panel, over no curve


def test_closeness_to_a_reference_gets_its_panels_over_k_where_it_was_measured(monkeypatch):
    figures = []
    monkeypatch.setattr(report_plots, "png_bytes", lambda figure: figures.append(figure) or b"png")
    report_plots.plot_metric_vs_size(_ensembles())
    measured = _ensembles().assign(test_agreement=0.8, test_total_variation=0.1)
    report_plots.plot_metric_vs_size(measured)
    labels = [[axis.get_ylabel() for axis in figure.axes] for figure in figures]
    assert labels == [["Acc", "ELPD", "ECE"], ["Acc", "ELPD", "ECE", "Agree", "TV"]]
