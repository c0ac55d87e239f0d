"""Shared pieces of method hyper-parameters, validated from sweep files (unknown keys rejected)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictModel(BaseModel):
    """A settings model that rejects unknown keys and checks values on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True)


class OptimizerSettings(StrictModel):
    """Optimizer of a training stage."""

    name: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: float = Field(5.0e-4, ge=0)


class ScheduleSettings(StrictModel):
    """Learning-rate schedule: cosine annealing over all epochs, step decay, or constant."""

    name: Literal["cosine", "step", "constant"] = "cosine"
    step_size: int = Field(10, gt=0)
    gamma: float = Field(0.1, gt=0, le=1)


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
    channels_last: bool = False
    compile: Literal["inductor", "aot_eager", "cudagraphs"] | None = None
    train_data: Literal["device", "host"] = "device"
    loader_workers: int = Field(2, ge=0)


class MethodSettings(StrictModel):
    """Base of every method's settings: all fields have defaults, so any may be searched.

    ``checkpoint_every_s``: a trial's reports carry a checkpoint at most this often (besides its
    final report and, for methods that keep their best epoch, every new best); 0 checkpoints every
    report. Resuming repeats at most this much training; fewer checkpoints keep short epochs cheap.
    """

    checkpoint_every_s: float = Field(30.0, ge=0)

    @classmethod
    def from_config(cls, config: dict) -> MethodSettings:
        """The settings held in a trial's config (which also holds the seed)."""
        return cls.model_validate({key: config[key] for key in cls.model_fields if key in config})
