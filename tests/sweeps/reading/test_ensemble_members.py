"""Ensemble plans: the paper's rule reproduces its file; stratified draws keep prefixes balanced."""

import numpy as np
import pandas as pd
import pytest
from repo_paths import ROOT

from bdlsweep.sweeps.evaluation.stratified import draw_members
from bdlsweep.sweeps.reading.ensemble_members import (
    members_of,
    plan_ensembles,
    plan_shortfalls,
    read_ensemble_file,
)

PAPER_FILE = ROOT / "sweeps" / "ensembles_jordahn2025.tsv"


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


@pytest.mark.parametrize(("seeds", "size", "distinct"), [(4, 3, 4), (3, 3, 1), (5, 2, 10), (30, 29, 30)])
def test_plans_hold_distinct_ensembles_and_say_when_fewer_exist_than_asked(seeds, size, distinct):
    plan = plan_ensembles(list(range(1, seeds + 1)), [size], per_size=10)
    assert len(plan) == min(distinct, 10) == plan["model_ids"].nunique()
    assert list(plan["ensemble_id"]) == list(range(1, len(plan) + 1))
    shortfalls = plan_shortfalls(list(range(1, seeds + 1)), [size], per_size=10)
    assert shortfalls == ([] if distinct >= 10 else [
        f"K={size}: only {distinct} distinct ensembles of {seeds} seeds exist; all are used (10 asked)"
    ])  # fmt: skip


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
