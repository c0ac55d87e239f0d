"""Shared pieces of method hyper-parameters, validated from sweep files (unknown keys rejected)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _floats(value: Any) -> Iterator[float]:
    """Every float in a setting's value (itself, or inside its lists and mappings)."""
    if isinstance(value, float):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _floats(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _floats(item)


def accepts_bool(annotation: Any) -> bool:
    """Whether a field of this type takes ``true``/``false`` as such (bool, Any, or a union or literal
    holding one), rather than as pydantic's lax 1/0 for a number."""
    if annotation is bool or annotation is Any:
        return True
    if get_origin(annotation) is Literal:
        return any(isinstance(value, bool) for value in get_args(annotation))
    if get_origin(annotation) in (Union, UnionType):
        return any(accepts_bool(arg) for arg in get_args(annotation))
    return False


class StrictModel(BaseModel):
    """A settings model that rejects unknown keys, booleans given for numbers (``epochs: true``), and
    checks values on assignment."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, populate_by_name=True, use_attribute_docstrings=True
    )

    @field_validator("*", mode="after")
    @classmethod
    def _float32_numbers(cls, value: Any) -> Any:
        """Settings reach float32 tensors: 1e308 would overflow there, inside a trial."""
        for number in _floats(value):
            if not (math.isfinite(number) and abs(number) <= FLOAT32_MAX):
                raise ValueError(f"{number!r} is not a finite number within float32's range (±3.4e38)")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and not accepts_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("true/false given where a number or name is expected")
        return value


class OptimizerSettings(StrictModel):
    """Optimizer of a training stage."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    """The optimizer: SGD (with momentum), Adam or AdamW."""
    lr: float = Field(0.05, gt=0)
    """The initial learning rate."""
    momentum: float = Field(0.9, ge=0, lt=1)
    """SGD's momentum (ignored by Adam and AdamW)."""
    nesterov: bool = False
    """Nesterov momentum for SGD."""
    weight_decay: float = Field(5.0e-4, ge=0)
    """L2 weight decay (decoupled for AdamW)."""


class ScheduleSettings(StrictModel):
    """Learning-rate schedule: cosine annealing over all epochs, step decay, constant, or SWA's.

    ``swa`` is the schedule of Izmailov et al. (2018), "Averaging Weights Leads to Wider Optima and Better
    Generalization" (and of the SWAG and MultiSWAG code): the initial rate for the first half of the
    epochs, a linear decay to ``final_ratio`` times it by 90% of them, then constant.
    """

    name: Literal["cosine", "step", "constant", "swa"] = "cosine"
    """The learning-rate schedule over the stage's epochs: cosine annealing, step decay, constant, or
    SWA's."""
    step_size: int = Field(10, gt=0)
    """Step decay: epochs between decays."""
    gamma: float = Field(0.1, gt=0, le=1)
    """Step decay: the factor each decay multiplies the rate by."""
    final_ratio: float = Field(0.01, gt=0, le=1)
    """SWA's schedule: the final rate as a share of the initial one."""


class SpeedSettings(StrictModel):
    """How a training loop uses its device (the method and its results stay the same up to rounding):
    ``precision: bf16`` runs forward passes and losses under ``torch.autocast`` in bfloat16,
    ``channels_last`` stores convolution weights and image batches channels-last, ``compile`` names a
    ``torch.compile`` backend for the training forward pass (``inductor`` on GPUs). ``train_data: host``
    keeps the training set in host memory (for sets larger than the device) and streams its batches
    through a DataLoader with ``loader_workers`` worker processes, pinned and copied without blocking;
    by default it is copied to the device once and batched there. Defaults: fp32, eager, on device.
    """

    precision: Literal["fp32", "bf16"] = "fp32"
    """Forward passes and losses in fp32, or in bfloat16 under torch.autocast."""
    channels_last: bool = False
    """Store convolution weights and image batches channels-last."""
    compile: Literal["inductor", "aot_eager", "cudagraphs"] | None = None
    """A torch.compile backend for the training forward pass (none: eager)."""
    train_data: Literal["device", "host"] = "device"
    """Keep the training set on the device (copied once) or in host memory (streamed in batches)."""
    loader_workers: int = Field(2, ge=0)
    """With train_data: host, the DataLoader's worker processes."""


class MethodSettings(StrictModel):
    """Base of every method's settings: all fields have defaults, so any may be searched.

    ``checkpoint_every_s``: a trial's reports carry a checkpoint at most this often (besides its
    final report and, for methods that keep their best epoch, every new best); 0 checkpoints every
    report. Resuming repeats at most this much training; fewer checkpoints keep short epochs cheap.
    """

    checkpoint_every_s: float = Field(30.0, ge=0)
    """A trial checkpoints at most this often, in seconds (besides its final report and new bests); 0
    checkpoints every report."""

    def likelihood_problem(self, likelihood: str) -> tuple[str, str] | None:
        """(key, problem) when these settings cannot run on data of ``likelihood``; None when they can."""
        return None

    @classmethod
    def from_config(cls, config: dict) -> MethodSettings:
        """The settings held in a trial's config (which also holds the seed)."""
        return cls.model_validate({key: config[key] for key in cls.model_fields if key in config})
