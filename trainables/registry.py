"""The methods a sweep file may name: the posterior class, row name and selection hint of every selectable
name."""

from __future__ import annotations

from bdlsweep.trainables.method import Method
from bdlsweep.trainables.methods.hmc import METHOD as HMC
from bdlsweep.trainables.methods.laplace_nf import METHOD as LAPLACE_NF
from bdlsweep.trainables.methods.llla import METHOD as LLLA
from bdlsweep.trainables.methods.map import METHOD as MAP
from bdlsweep.trainables.methods.mc_dropout import METHOD as MC_DROPOUT
from bdlsweep.trainables.methods.packed import METHOD as PACKED
from bdlsweep.trainables.methods.sgmcmc import METHOD as SGMCMC
from bdlsweep.trainables.methods.subspace import METHOD as SUBSPACE
from bdlsweep.trainables.methods.swag import METHOD as SWAG
from bdlsweep.trainables.methods.vi import METHOD as VI
from bdlsweep.trainables.posteriors.base import Posterior

METHODS: dict[str, Method] = {
    method.name: method
    for method in (MAP, SWAG, LLLA, LAPLACE_NF, MC_DROPOUT, SGMCMC, HMC, VI, PACKED, SUBSPACE)
}


def posterior_class(method: str, derived: str | None = None) -> type[Posterior]:
    """The posterior class for a method, or for one of its derived selections (SWA of SWAG)."""
    if derived is None:
        return METHODS[method].posterior
    return METHODS[method].derived[derived].posterior


def display_name(label: str, size: int = 1) -> str:
    """The row name of a method's (or derived selection's) ensembles of ``size`` members in tables and
    plots; an unknown label is its own name."""
    for method in METHODS.values():
        named = method if method.name == label else method.derived.get(label)
        if named is not None:
            return named.ensemble_name if size > 1 and named.ensemble_name else named.display_name
    return label


def selection_hint(label: str) -> str:
    """What to change when a method's selection is worse than the model it starts from (a derived
    selection takes its method's)."""
    for method in METHODS.values():
        if label == method.name or label in method.derived:
            return method.hint
    return "check its grid"
