"""The methods a sweep file may name, and the posterior class of every selectable name."""

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
