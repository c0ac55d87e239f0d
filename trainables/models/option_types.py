"""Constrained types of the model options a sweep file sets, so a negative width or a dropout of 2 is a
one-line error when the file is read, not a failure inside a trial."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Size = Annotated[int, Field(gt=0)]
"""A width, depth, channel count, head count or other count of at least one."""

Probability = Annotated[float, Field(ge=0, lt=1)]
"""A dropout rate."""

PositiveFloat = Annotated[float, Field(gt=0)]
"""A length scale or factor above zero (PaiNN's cutoff, Packed-Ensembles' alpha)."""

Padding = Annotated[int, Field(ge=0)]
"""A convolution's zero padding."""
