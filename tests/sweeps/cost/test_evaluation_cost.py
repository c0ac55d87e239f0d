"""The dry run's evaluation cost: member tasks and sampled forward passes, per member and per ensemble."""

from repo_paths import ROOT

from bdlsweep.sweeps.cost.evaluation_cost import describe_costs, method_costs
from bdlsweep.sweeps.pipeline import ensembles_to_evaluate
from bdlsweep.sweeps.spec.loading import load_spec

QUICKSTART = ROOT / "sweeps" / "quickstart.yaml"


def test_each_member_costs_its_longest_prefix_and_each_ensemble_its_whole_draw():
    overrides = [
        "seeds=3",
        "evaluate.ensemble_sizes=[1,3]",
        "evaluate.num_posterior_samples=6",
        "evaluate.subsample_sizes=[3]",
    ]
    spec = load_spec(QUICKSTART, [*overrides, "stages.llla.predictive=probit"])
    plan = ensembles_to_evaluate(spec)
    costs = {cost.label: cost for cost in method_costs(spec, plan)}
    assert all(cost.member_tasks == 3 for cost in costs.values())
    for label in ("map", "swa", "llla"):  # one prediction per member (LLLA's probit predictive too)
        assert costs[label].passes_per_member == 3 and costs[label].passes_per_ensemble == plan["K"].sum()
    for label in ("swag", "laplace_nf", "mc_dropout"):  # the K = 1 ensembles read each member's 6 samples
        assert costs[label].passes_per_member == 3 * 6 and costs[label].passes_per_ensemble == 6 * len(plan)
    total = describe_costs(list(costs.values()))[-1]
    member, ensemble = 3 * 3 + 3 * 18, 3 * plan["K"].sum() + 3 * 6 * len(plan)
    assert total == (
        f"  total: 18 member tasks; sampled forward passes per set {member} "
        f"(per ensemble: {ensemble}; {ensemble / member:.1f}× fewer)"
    )
