"""The methods a sweep file may name, and the posterior class of every selectable name."""

from __future__ import annotations

from bdlsweep.trainables import llla, map, swag
from bdlsweep.trainables.method import Method
from bdlsweep.trainables.posterior import Posterior

METHODS: dict[str, Method] = {method.name: method for method in (map.METHOD, swag.METHOD, llla.METHOD)}


def posterior_class(method: str, derived: str | None = None) -> type[Posterior]:
    """The posterior class for a method, or for one of its derived selections (SWA of SWAG)."""
    if derived is None:
        return METHODS[method].posterior
    return METHODS[method].derived[derived].posterior
