"""The main table of Jordahn et al. (2025), their Table C.3 layout: rows K × method, columns dataset/model
× metrics."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import pandas as pd

from bdlsweep.storage.locations import Location

METRICS = {
    "acc": ("Acc", "max"),
    "elpd": ("ELPD", "max"),
    "ece": ("ECE", "min"),
    "nll": ("NLL", "min"),
    "rmse": ("RMSE", "min"),
    "mae": ("MAE", "min"),
    "crps": ("CRPS", "min"),
    "coverage_90": ("Cov90", None),
    "brier": ("Brier", "min"),
    "entropy": ("Entropy", None),
    "aece": ("aECE", "min"),
    "auroc": ("AUROC", "max"),
    "aupr_out": ("AUPR", "max"),
    "fpr95": ("FPR95", "min"),
    "aurc": ("AURC", "min"),
    "augrc": ("AUGRC", "min"),
    "cov_at_5_risk": ("Cov@5Risk", "max"),
    "risk_at_80_cov": ("Risk@80Cov", "min"),
    "params": ("Params", None),
    "flops": ("FLOPs", None),
    "agreement": ("Agree", "max"),
    "total_variation": ("TV", "min"),
    "wasserstein2": ("W2", "min"),
}
COUNTS = ("params", "flops")  # printed with K/M/G/T prefixes; every other metric in scientific notation
MARK = "†"
CLASSIFICATION_COLUMNS = ("acc", "elpd", "ece")
REGRESSION_COLUMNS = ("elpd", "rmse", "coverage_90")
REFERENCE_COLUMNS = ("agreement", "total_variation", "wasserstein2")  # shown where a reference was given


@dataclass(frozen=True)
class TableNotes:
    """What a table says about itself: a caption (what its values are: statistics, splits, units) and
    per method a footnote marking its rows (a selected posterior worse than the model it starts from)."""

    caption: str = ""
    flagged: dict[str, str] = field(default_factory=dict)

    def footnotes(self, methods: list[str]) -> list[str]:
        """``† SWAG: ...`` for each flagged method among ``methods``, in their order."""
        return [f"{MARK} {row_name(m)}: {self.flagged[m]}" for m in methods if m in self.flagged]


NO_NOTES = TableNotes()


def row_name(method: str, size: int = 1) -> str:
    """A method's row name for ensembles of ``size`` (its registry entry's ``display_name``), read from
    the method registry only when a table is written: importing it imports torch and every method, which
    ``bdlsweep status`` would otherwise pay for nothing."""
    from bdlsweep.trainables.registry import display_name

    return display_name(method, size)


def final_test_rows(ensembles: pd.DataFrame) -> pd.DataFrame:
    """Test-split rows at each ensemble's largest number of posterior samples."""
    test = ensembles[ensembles["split"] == "test"]
    largest = test.groupby(["method", "K", "ensemble_id"])["num_samples"].transform("max")
    return test[test["num_samples"] == largest]


IDENTIFYING_OPTIONS = ("dataset", "split", "target", "split_seed", "train_subset", "train_size")
SPLIT_OPTIONS = ("split", "split_seed")  # a suite's cells that differ only in these form one column group
SPLIT_COLUMN = "split_of"  # a suite table's rows: the cell (split) each came from


def group_name(dataset: str, options: dict, model: str) -> str:
    """A table's column-group header: the dataset with the options that tell its sets and splits apart,
    then the model (``uci boston split=3 split_seed=0 / mlp``)."""
    shown = [str(options["dataset"])] if "dataset" in options else []
    shown += [f"{key}={options[key]}" for key in IDENTIFYING_OPTIONS[1:] if options.get(key) is not None]
    return " ".join([dataset, *shown, "/", model])


def main_table(
    groups: dict[str, pd.DataFrame],
    metrics: tuple[str, ...] | None = None,
    methods: list[str] | None = None,
    over: str | None = None,
) -> pd.DataFrame:
    """Mean and standard error over ensembles, per (K, method) row and (group, metric) column; with
    ``over`` (a column naming each row's split), the mean and standard error over the splits of each
    split's mean over its ensembles (the UCI papers' mean ± s.e. over splits).

    ``groups`` maps a column-group name (``"digits MLP"``) to that sweep's tidy ensemble results;
    rows are ordered by K, then by ``methods`` (default: the order methods first appear). ``metrics``
    defaults, per group, to Acc/ELPD/ECE for classification and ELPD/RMSE/90% coverage for regression,
    so one table can hold both (Jordahn et al. (2025)'s Table C.3: four image and text columns beside QM9).
    A method a group did not evaluate leaves its cells empty.
    """
    parts = []
    for group, frame in groups.items():
        rows = final_test_rows(frame)
        shown = metrics or default_columns(frame)
        columns = [f"test_{m}" for m in shown]
        if over is not None:
            rows = rows.groupby(["K", "method", over])[columns].mean().reset_index()
        stats = rows.groupby(["K", "method"])[columns].agg(["mean", "sem"])
        stats.columns = pd.MultiIndex.from_tuples(
            [(group, metric[len("test_") :], stat) for metric, stat in stats.columns]
        )
        parts.append(stats)
    if methods is None:
        methods = list(dict.fromkeys(m for frame in groups.values() for m in frame["method"]))
    return ordered_rows(pd.concat(parts, axis=1), methods)


def default_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """Acc/ELPD/ECE for classification, ELPD/RMSE/90% coverage for regression, and the closeness to a
    reference posterior where the evaluation measured it."""
    base = CLASSIFICATION_COLUMNS if "test_acc" in frame.columns else REGRESSION_COLUMNS
    return base + tuple(metric for metric in REFERENCE_COLUMNS if f"test_{metric}" in frame.columns)


def reference_caption(reference: str, shown: list[str], ceiling: pd.DataFrame | None) -> str:
    """What the closeness columns ``shown`` measure against, and how close the reference method's own
    independent runs come to each other (mean ± s.e. over their pairs): the spread of the reference."""
    names = ", ".join(METRICS[metric][0] for metric in shown)
    text = f"{names}: each test predictive against the reference posterior's, {reference}"
    if ceiling is None or ceiling.empty:
        return text + "."
    parts = [
        f"{METRICS[metric][0]} {cell_number(values.mean())}"
        + (f" ± {cell_number(values.sem())}" if len(values) > 1 else "")
        for metric in shown
        if metric in ceiling.columns
        for values in [ceiling[metric]]
    ]
    pairs = f"{len(ceiling)} pair{'s' if len(ceiling) != 1 else ''}"
    runs = f"{ceiling['method'].iloc[0]}'s single members against each other, {pairs}"
    return f"{text}. Ceiling ({runs}): {', '.join(parts)}."


def ordered_rows(table: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """The (K, method) rows of ``table`` by K, then in the order of ``methods`` (others last)."""
    rank = {method: position for position, method in enumerate(methods)}
    order = sorted(table.index, key=lambda index: (index[0], rank.get(index[1], len(rank))))
    return table.loc[order]


def _best(table: pd.DataFrame) -> dict[tuple, set]:
    """(group, metric) → set of (K, method) index entries that are best within their K; none where
    every row of that K holds the same value (nothing to point out)."""
    best: dict[tuple, set] = {}
    for group, metric, stat in table.columns:
        if stat != "mean":
            continue
        direction = METRICS.get(metric, (metric, "max"))[1]
        chosen = set()
        if direction is None:
            best[(group, metric)] = chosen
            continue
        for _, block in table[(group, metric, "mean")].groupby(level="K"):
            if block.round(3).nunique() < 2:
                continue
            target = block.max() if direction == "max" else block.min()
            chosen |= set(block.index[block == target])
        best[(group, metric)] = chosen
    return best


def cell_number(value: float, metric: str = "") -> str:
    """Three decimals; from 10⁴ on, counts (parameters, FLOPs) with two decimals and a K/M/G/T prefix as
    TorchUncertainty prints them, and any other value in scientific notation (``3.66e+05``: a blown-up
    RMSE must not read as a count of thousands beside the K column)."""
    if abs(value) >= 1e4 and metric not in COUNTS:
        return f"{value:.3g}"
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= max(scale, 1e4):
            return f"{value / scale:.2f} {prefix}"
    return f"{value:.3f}"


def _methods(table: pd.DataFrame) -> list[str]:
    """The table's methods in row order."""
    return list(dict.fromkeys(method for _, method in table.index))


def _cells(table: pd.DataFrame, stderr: bool, bold, notes: TableNotes, mark: str) -> list[list[str]]:
    best = _best(table)
    lines = []
    for index in table.index:
        size, method = index
        name = row_name(method, size) + (mark if method in notes.flagged else "")
        cells = [str(size), name]
        for group, metric, stat in table.columns:
            if stat != "mean":
                continue
            mean = table.loc[index, (group, metric, "mean")]
            if math.isnan(mean):
                cells.append("–")
                continue
            text = cell_number(mean, metric)
            sem = table.loc[index, (group, metric, "sem")]
            if stderr and not math.isnan(sem):
                text += f" ± {cell_number(sem, metric)}"
            cells.append(bold(text) if index in best[(group, metric)] else text)
        lines.append(cells)
    return lines


def _headers(table: pd.DataFrame) -> list[str]:
    return ["K", "Method"] + [
        f"{group} {METRICS.get(metric, (metric,))[0]}"
        for group, metric, stat in table.columns
        if stat == "mean"
    ]


def to_markdown(table: pd.DataFrame, stderr: bool = False, notes: TableNotes = NO_NOTES) -> str:
    """GitHub Markdown; the best value per K and column in bold; the caption above, footnotes below."""
    headers = _headers(table)
    lines = [notes.caption, ""] if notes.caption else []
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    rows = _cells(table, stderr, lambda t: f"**{t}**", notes, f" {MARK}")
    lines += ["| " + " | ".join(c) + " |" for c in rows]
    footnotes = notes.footnotes(_methods(table))
    lines += ["", *footnotes] if footnotes else []
    return "\n".join(lines) + "\n"


def _group_spans(table: pd.DataFrame) -> list[tuple[str, int]]:
    """Each column group in order with the number of metrics it shows."""
    spans: dict[str, int] = {}
    for group, _, stat in table.columns:
        if stat == "mean":
            spans[group] = spans.get(group, 0) + 1
    return list(spans.items())


def _latex_text(text: str) -> str:
    """``text`` with LaTeX's special characters that group names can hold escaped."""
    for character in "&%$#_{}":
        text = text.replace(character, f"\\{character}")
    return text


def _latex_headers(table: pd.DataFrame) -> list[str]:
    """One header row; with several column groups (Table C.3), a row of groups over a row of metrics."""
    spans = _group_spans(table)
    if len(spans) == 1:
        return [" & ".join(_latex_text(header) for header in _headers(table)) + " \\\\"]
    groups = " & ".join(f"\\multicolumn{{{count}}}{{c}}{{{_latex_text(group)}}}" for group, count in spans)
    rules, start = [], 3
    for _, count in spans:
        rules.append(f"\\cmidrule(lr){{{start}-{start + count - 1}}}")
        start += count
    metrics = [METRICS.get(metric, (metric,))[0] for _, metric, stat in table.columns if stat == "mean"]
    return [f" & & {groups} \\\\", "".join(rules), " & ".join(["K", "Method", *metrics]) + " \\\\"]


def to_latex(table: pd.DataFrame, stderr: bool = False, notes: TableNotes = NO_NOTES) -> str:
    """A LaTeX tabular; the best value per K and column in \\textbf; with a caption or footnotes, inside
    a ``table`` float holding them."""
    headers = _headers(table)
    lines = [
        "\\begin{tabular}{" + "ll" + "r" * (len(headers) - 2) + "}",
        "\\toprule",
        *_latex_headers(table),
        "\\midrule",
    ]
    for cells in _cells(table, stderr, lambda t: f"\\textbf{{{t}}}", notes, "$^\\dagger$"):
        lines.append(" & ".join(cell.replace("±", "$\\pm$") for cell in cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    footnotes = notes.footnotes(_methods(table))
    if not notes.caption and not footnotes:
        return "\n".join(lines) + "\n"
    caption = [f"\\caption{{{_latex_text(notes.caption)}}}"] if notes.caption else []
    below = ["\\par\\footnotesize " + _latex_text(note).replace(MARK, "$^\\dagger$", 1) for note in footnotes]
    return "\n".join(["\\begin{table}[t]", "\\centering", *caption, *lines, *below, "\\end{table}"]) + "\n"


def to_html(table: pd.DataFrame, stderr: bool = False, notes: TableNotes = NO_NOTES) -> str:
    """An HTML ``<table>``; the best value per K and column in ``<b>``; its caption in ``<caption>``
    and its footnotes in a paragraph after it."""
    head = "".join(f"<th>{html.escape(name)}</th>" for name in _headers(table))
    rows = [
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        for cells in _cells(table, stderr, lambda text: f"<b>{html.escape(text)}</b>", notes, f" {MARK}")
    ]
    caption = f"<caption>{html.escape(notes.caption)}</caption>" if notes.caption else ""
    footnotes = "".join(
        f'<p class="table-note">{html.escape(note)}</p>' for note in notes.footnotes(_methods(table))
    )
    body = f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
    return f"<table>{caption}{body}</table>{footnotes}\n"


def to_csv(table: pd.DataFrame, notes: TableNotes = NO_NOTES) -> str:
    """Plain numbers: one column per group, metric and statistic (mean, sem), and where methods are
    flagged a ``note`` column with the footnote of their rows."""
    flat = table.copy()
    flat.columns = [f"{group} {metric} {stat}" for group, metric, stat in table.columns]
    flat = flat.reset_index()
    flat.insert(2, "name", [row_name(m, k) for m, k in zip(flat["method"], flat["K"], strict=True)])
    if notes.flagged:
        flat["note"] = [notes.flagged.get(method, "") for method in flat["method"]]
    return flat.to_csv(index=False)


def suite_groups(groups: dict[str, str], frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """A suite's ensemble results (``frames``: cell → rows) by column group (``groups``: cell → group),
    each row marked with its cell in ``split_of``, for ``main_table(..., over=SPLIT_COLUMN)``."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for cell, group in groups.items():
        parts.setdefault(group, []).append(frames[cell].assign(**{SPLIT_COLUMN: cell}))
    return {group: pd.concat(frames, ignore_index=True) for group, frames in parts.items()}


def suite_table(groups: dict[str, str], frames: dict[str, pd.DataFrame], methods: list[str]) -> pd.DataFrame:
    """A suite's main table: rows K × method; per column group (``groups``: cell → group), the mean ±
    s.e. over its cells (splits) of each cell's mean over its ensembles (``frames``: cell → rows)."""
    return main_table(suite_groups(groups, frames), methods=methods, over=SPLIT_COLUMN)


def _splits_text(splits: list) -> str:
    """``20 splits (0–19)``, or the splits listed when they are not a run of integers."""
    values = sorted(set(splits), key=str)
    numbers = sorted(value for value in values if isinstance(value, int))
    run = len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1))
    if run and len(numbers) == len(values):
        return f"{len(numbers)} splits ({numbers[0]}–{numbers[-1]})"
    return f"{len(values)} split{'s' if len(values) != 1 else ''} ({', '.join(map(str, values))})"


def suite_caption(groups: dict[str, str], splits: dict[str, object], regression: bool) -> str:
    """What a suite table's values are: the mean ± s.e. over each column group's splits (``groups``:
    cell → group; ``splits``: cell → its split) of each split's mean over its ensembles, and units."""
    by_group: dict[str, list] = {}
    for cell, group in groups.items():
        by_group.setdefault(group, []).append(splits.get(cell, cell))
    counts = {len(set(map(str, values))) for values in by_group.values()}
    statistic = f"over {counts.pop()} splits" if len(counts) == 1 else "over the splits"
    listed = "; ".join(f"{group}: {_splits_text(values)}" for group, values in by_group.items())
    units = (
        "ELPD in nats per test point and RMSE in the target's units"
        if regression
        else "ELPD in nats per test point, accuracy and ECE as fractions"
    )
    return f"Mean ± s.e. {statistic} of each split's mean over its ensembles ({listed}); {units}."


def table_texts(table: pd.DataFrame, notes: TableNotes = NO_NOTES) -> dict[str, str]:
    """A main table's files by suffix: Markdown and LaTeX with standard errors, and CSV."""
    return {
        "md": to_markdown(table, stderr=True, notes=notes),
        "csv": to_csv(table, notes),
        "tex": to_latex(table, stderr=True, notes=notes),
    }


FORMATS = {"md": "markdown", "csv": "csv", "tex": "latex"}
"""A table file's suffix → its format's name."""


def write_table_files(
    folder: Location, table: pd.DataFrame, notes: TableNotes = NO_NOTES
) -> dict[str, Location]:
    """The one writer of main tables: ``table`` (with its caption and footnotes) as ``table.md``,
    ``table.csv`` and ``table.tex`` in ``folder`` (a sweep's results, its report, a combined report), by
    format name (markdown, csv, latex)."""
    return {
        FORMATS[suffix]: (folder / f"table.{suffix}").write_text(text)
        for suffix, text in table_texts(table, notes).items()
    }
