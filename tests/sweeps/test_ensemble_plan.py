"""Ensemble plans: the paper's rule reproduces its file; stratified draws keep prefixes balanced."""

import numpy as np
import pandas as pd
import pytest
from repo_paths import ROOT

from bdlsweep.sweeps.ensemble_plan import members_of, plan_ensembles, read_ensemble_file
from bdlsweep.sweeps.stratified import draw_members

PAPER_FILE = ROOT / "sweeps" / "ensembles_000.tsv"


def test_rule_reproduces_the_paper_ensemble_file():
    paper = read_ensemble_file(PAPER_FILE)
    sizes = sorted(paper["K"].unique())
    generated = plan_ensembles(list(range(1, 31)), sizes, per_size=30)
    pd.testing.assert_frame_equal(
        generated.reset_index(drop=True), paper.reset_index(drop=True), check_dtype=False
    )


def test_single_models_and_arbitrary_seeds():
    plan = plan_ensembles([11, 4, 7], [1, 2], per_size=3)
    singles = plan[plan["K"] == 1]
    assert list(singles["model_ids"]) == ["4", "7", "11"]
    for ids in plan[plan["K"] == 2]["model_ids"]:
        members = members_of(ids)
        assert len(set(members)) == 2 and set(members) <= {4, 7, 11}


@pytest.mark.parametrize(("members", "samples"), [(3, 10), (4, 40), (5, 7), (2, 1)])
def test_stratified_prefixes_are_balanced(members, samples):
    draws = draw_members(members, samples, True, np.random.default_rng(0))
    assert len(draws) == samples
    for prefix in range(1, samples + 1):
        counts = np.bincount(draws[:prefix], minlength=members)
        assert counts.max() - counts.min() <= 1
        assert counts.max() <= -(-prefix // members)


def test_unstratified_draws_with_replacement():
    draws = draw_members(3, 3000, False, np.random.default_rng(0))
    counts = np.bincount(draws, minlength=3)
    assert counts.min() > 900 and len(draws) == 3000
    assert any(np.bincount(draws[i : i + 3], minlength=3).max() > 1 for i in range(0, 300, 3))
