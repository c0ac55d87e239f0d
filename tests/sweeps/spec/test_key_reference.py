"""The generated sweep-file reference: every key described, defaults and bounds read from the models."""

import importlib.util
import re
from pathlib import Path
from typing import Literal

from pydantic import Field

from bdlsweep.sweeps.spec.key_reference import markdown_table, model_keys, sweep_file_keys
from bdlsweep.trainables.registry import METHODS
from bdlsweep.trainables.settings import StrictModel

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_every_key_of_the_sweep_file_and_of_every_method_has_a_description():
    rows = [row for section in sweep_file_keys().values() for row in section]
    rows += [row for method in METHODS.values() for row in model_keys(method.settings, f"{method.name}.")]
    assert len(rows) > 150
    assert [row.key for row in rows if not row.description.strip()] == []


class _Inner(StrictModel):
    rate: float = Field(0.5, gt=0, le=1)
    """A rate."""


class _Example(StrictModel):
    count: int = Field(3, ge=1)
    """How many."""
    kind: Literal["a", "b"] = "a"
    """Which kind."""
    label: str = Field(min_length=1)
    """A name."""
    inner: _Inner = _Inner(rate=0.25)
    """Nested."""


def test_types_defaults_and_bounds_come_from_the_model():
    rows = {row.key: row for row in model_keys(_Example)}
    assert (rows["count"].type, rows["count"].default, rows["count"].allowed) == ("int", "3", "≥ 1")
    assert (rows["kind"].type, rows["kind"].allowed) == ("choice", "one of a, b")
    assert (rows["label"].default, rows["label"].allowed) == ("required", "not empty")
    assert rows["inner.rate"].default == "0.25"  # the enclosing default's value, not the class's 0.5
    assert rows["inner.rate"].allowed == "> 0, ≤ 1" and rows["inner.rate"].description == "A rate."
    table = markdown_table(list(rows.values()))
    assert table.count("\n") == len(rows) + 1 and "| `inner.rate` | float | `0.25` |" in table


def test_map_reference_shows_its_nesterov_default_and_the_stage_keys_their_alias():
    rows = {row.key: row for row in model_keys(METHODS["map"].settings)}
    assert rows["optimizer.nesterov"].default == "true"
    stage_keys = [row.key for row in sweep_file_keys()["stages.<name>."]]
    assert "stages.<name>.from" in stage_keys and "stages.<name>.scheduler.grace_epochs" in stage_keys


def test_the_docs_get_a_page_for_every_registered_method():
    spec = importlib.util.spec_from_file_location("reference_pages", DOCS / "hooks" / "reference_pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    generated = pages.generated_pages()
    for name, method in METHODS.items():
        page = generated[f"methods/{name}.md"]
        assert page.startswith(f"# {method.display_name} (`{name}`)")
        assert re.search(r"- Paper: [A-Z][^\n]+ \((19|20)\d\d\), \"[^\n]+\", [A-Z]", page), name
        assert all(f"| `{row.key}` |" in page for row in model_keys(method.settings))
        assert f"]({name}.md)" in generated["methods/index.md"]
    keys_page = generated["reference/sweep-file-keys.md"]
    assert "| `evaluate.num_posterior_samples` | int | `100` | > 0, ≤ 100000 |" in keys_page


def test_dataset_and_model_options_come_from_the_loaders_and_constructors():
    from bdlsweep.sweeps.spec.key_reference import option_keys
    from bdlsweep.trainables.data.registry import DATASETS, dataset_options
    from bdlsweep.trainables.models.registry import MODELS, model_options

    uci = {row.key: row for row in option_keys(dataset_options("uci"), "dataset.")}
    assert uci["dataset.data_dir"].default == "required" and uci["dataset.split"].default == "0"
    assert uci["dataset.dataset"].allowed.startswith("one of boston, concrete, energy")
    digits = {row.key: row for row in option_keys(dataset_options("digits"), "dataset.")}
    assert (digits["dataset.image_size"].type, digits["dataset.image_size"].allowed) == ("int or null", "≥ 8")
    cifar = {row.key: row for row in option_keys(dataset_options("cifar10"), "dataset.")}
    ood = cifar["dataset.ood"]
    assert ood.type == "list of choice" and ood.allowed.startswith("each one of svhn")
    wrn = {row.key: row for row in option_keys(model_options("wide_resnet"), "model.")}
    assert (wrn["model.depth"].default, wrn["model.depth"].allowed) == ("16", "> 0")

    spec = importlib.util.spec_from_file_location("reference_pages", DOCS / "hooks" / "reference_pages.py")
    pages = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pages)
    page = pages.generated_pages()["reference/dataset-and-model-options.md"]
    assert all(f"### `{name}`" in page for name in [*DATASETS, *MODELS])
    assert "| `model.norm` | choice | `frn` | one of frn, batch |" in page
