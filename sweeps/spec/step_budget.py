"""``steps:``, a stage's training length in optimiser steps, turned into whole epochs of the sweep's
training set, so one sweep file trains for the same budget on a set of any size."""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from bdlsweep.sweeps.reading.errors import SpecError, key_path
from bdlsweep.sweeps.spec.dataset_reading import read_dataset
from bdlsweep.trainables.settings import MethodSettings

BUDGETED = ("epochs", "batch_size")  # a method whose settings have both trains in minibatch steps


def takes_steps(settings: type[MethodSettings]) -> bool:
    """Whether a method trains in epochs of minibatches, so its length can be given in steps."""
    return all(name in settings.model_fields for name in BUDGETED)


def epochs_for_steps(steps: int, batch_size: int, train_size: int) -> int:
    """The fewest whole epochs that make at least ``steps`` optimiser steps: an epoch over ``train_size``
    examples is ⌈train_size / batch_size⌉ steps (its last batch may be short)."""
    return math.ceil(steps / math.ceil(train_size / batch_size))


def training_set_size(source: str, key: str, dataset: str, options: dict[str, Any]) -> int:
    """How many examples the sweep's models train on (the training split, without validation)."""
    return len(read_dataset(source, key, dataset, options).train)


def with_epochs(source: str, stage_name: str, settings: MethodSettings, steps: int, train_size: int):
    """``settings`` training for the epochs that ``steps`` make; a method's own checks of its epochs
    (an SG-MCMC burn-in shorter than the run) are reported against ``steps``."""
    epochs = epochs_for_steps(steps, settings.batch_size, train_size)
    try:
        return type(settings).model_validate({**settings.model_dump(), "epochs": epochs})
    except ValidationError as error:
        problem = "; ".join(item["msg"].removeprefix("Value error, ") for item in error.errors())
        raise SpecError(
            source,
            key_path(["stages", stage_name, "steps"]),
            f"{steps} steps are {epochs} epochs of {train_size} examples: {problem}",
        ) from None
