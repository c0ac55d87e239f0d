"""MkDocs hook: the reference pages generated at build time from the code, so they cannot drift from it:
every key of the sweep file (from its pydantic models), one page per registered method (its registry
entry and settings) and the named search spaces."""

from __future__ import annotations

import importlib
import inspect

from mkdocs.structure.files import File, Files

from bdlsweep.search_spaces import registry as search_registry
from bdlsweep.search_spaces.ranges import Range
from bdlsweep.sweeps.spec.key_reference import markdown_table, model_keys, option_keys, sweep_file_keys
from bdlsweep.trainables.data.registry import DATASETS, dataset_options
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.models.registry import MODELS, model_options
from bdlsweep.trainables.registry import METHODS

SECTION_TITLES = {"": "The top level and its sections", "stages.<name>.": "Keys every stage has"}


def _value(value: object) -> str:
    """A grid value or range, short."""
    if isinstance(value, Range):
        return f"{value.kind}({value.low:g}, {value.high:g})"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def sweep_file_page() -> str:
    """``reference/sweep-file-keys.md``: every key, by section."""
    parts = [
        "# Sweep-file keys",
        "",
        "Generated from the pydantic models that validate a sweep file. A stage's other keys are its "
        "method's settings: see each [method's page](../methods/index.md). Dataset and model options are "
        "listed in [dataset and model options](dataset-and-model-options.md).",
    ]
    for prefix, rows in sweep_file_keys().items():
        parts += ["", f"## {SECTION_TITLES[prefix]}", "", markdown_table(rows)]
    return "\n".join(parts) + "\n"


def method_page(method: Method) -> str:
    """``methods/<name>.md``: what the method is (its module's docstring), its place in a sweep and its
    settings."""
    module = importlib.import_module(inspect.getmodule(method.trainable).__name__)
    parents = ", ".join(f"`{parent}`" for parent in method.parents) or "nothing (trains from scratch)"
    facts = [
        f"- Paper: {method.paper}.",
        f"- Name in a sweep file: `method: {method.name}`; rows of the tables: {method.display_name}.",
        f"- Starts from: {parents}{' (optional)' if method.parent_optional else ''}.",
        f"- Data: {', '.join(method.likelihoods)}.",
        f"- A trial's result: its {'best' if method.checkpoint == 'best' else 'last'} checkpoint.",
        f"- Cost: {method.passes.rule}.",
        f"- When its selection is worse than the model it starts from: {method.hint}.",
    ]
    for derived_name, derived in method.derived.items():
        also = f"`{derived_name}` ({derived.display_name})"
        facts.append(f"- Also selects {also} from the same trials by `{derived.metric}`.")
    default_space = search_registry.DEFAULT_OPTUNA_SPACES.get(method.name, {})
    if default_space:
        ranges = ", ".join(f"`{key}` ~ {_value(value)}" for key, value in default_space.items())
        facts.append(f"- `search: optuna` searches {ranges}.")
    facts.append(
        "- Grids: any setting can be searched; the named grids the shipped sweeps use are on the "
        "[search spaces](../reference/search-spaces.md) page."
    )
    return (
        "\n".join(
            [
                f"# {method.display_name} (`{method.name}`)",
                "",
                inspect.cleandoc(module.__doc__ or ""),
                "",
                *facts,
                "",
                "## Settings",
                "",
                "Every setting can be set in the stage or searched in its `search:`.",
                "",
                markdown_table(model_keys(method.settings)),
            ]
        )
        + "\n"
    )


def methods_index() -> str:
    """``methods/index.md``: every registered method, linked."""
    rows = ["| method | in a sweep file | starts from |", "|---|---|---|"]
    for method in METHODS.values():
        parents = ", ".join(method.parents) or "—"
        rows.append(f"| [{method.display_name}]({method.name}.md) | `method: {method.name}` | {parents} |")
    return (
        "# Methods\n\nOne page per registered method, generated from its registry entry.\n\n"
        + "\n".join(rows)
        + "\n"
    )


def search_spaces_page() -> str:
    """``reference/search-spaces.md``: every named grid and range a stage's ``search`` may name."""
    parts = ["# Search spaces", "", "Named grids and ranges a stage's `search:` may refer to, by family."]
    for family_module, family in zip(search_registry.FAMILY_MODULES, search_registry.FAMILIES, strict=True):
        parts += ["", f"## {family_module.__name__.rsplit('.', 1)[-1].replace('_', ' ')}", ""]
        parts += [inspect.cleandoc(family_module.__doc__ or ""), "", "| name | values |", "|---|---|"]
        for name, values in family.grids.items():
            parts.append(f"| `{name}` | {', '.join(_value(value) for value in values)} |")
        for name, value in family.ranges.items():
            parts.append(f"| `{name}` | {_value(value)} |")
    return "\n".join(parts) + "\n"


def options_page() -> str:
    """``reference/dataset-and-model-options.md``: every option each dataset and model takes."""
    parts = [
        "# Dataset and model options",
        "",
        "Generated from the signatures of the dataset loaders and model constructors, which is what a "
        "sweep file's `dataset:` and `model:` sections are checked against. What each option does is on "
        "the [data](../data.md) and [models](../models.md) pages.",
        "",
        "## Datasets",
    ]
    for name in DATASETS:
        rows = option_keys(dataset_options(name), "dataset.")
        parts += ["", f"### `{name}`", "", markdown_table(rows, described=False)]
    parts += ["", "## Models"]
    for name in MODELS:
        rows = option_keys(model_options(name), "model.")
        parts += ["", f"### `{name}`", "", markdown_table(rows, described=False)]
    return "\n".join(parts) + "\n"


def generated_pages() -> dict[str, str]:
    """Every generated page by its path under ``docs/``."""
    pages = {
        "reference/sweep-file-keys.md": sweep_file_page(),
        "reference/search-spaces.md": search_spaces_page(),
        "reference/dataset-and-model-options.md": options_page(),
        "methods/index.md": methods_index(),
    }
    pages.update({f"methods/{method.name}.md": method_page(method) for method in METHODS.values()})
    return pages


def on_files(files: Files, config) -> Files:
    """Add the generated pages to the site."""
    for path, content in generated_pages().items():
        files.append(File.generated(config, path, content=content))
    return files
