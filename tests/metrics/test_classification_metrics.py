"""Metrics against independent computations (scikit-learn, hand-made cases, direct formulas)."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from bdlsweep.metrics import classification


def _log_probs(probs) -> np.ndarray:
    return np.log(np.asarray(probs, dtype=np.float64))


def test_lpd_is_log_of_sample_mean_probability():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 20, 4))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = rng.integers(0, 4, 20)
    expected = np.mean(np.log(np.exp(log_probs).mean(0)[np.arange(20), labels]))
    assert classification.lpd(log_probs, labels) == pytest.approx(expected, abs=1e-12)
    assert classification.nll(log_probs, labels) == pytest.approx(-expected, abs=1e-12)


def test_accuracy_brier_confidence_on_hand_case():
    probs = [[[0.7, 0.3], [0.4, 0.6], [0.9, 0.1]]]
    labels = [0, 0, 0]
    assert classification.accuracy(_log_probs(probs), labels) == pytest.approx(2 / 3)
    brier = np.mean([2 * 0.3**2, 2 * 0.6**2, 2 * 0.1**2])
    assert classification.brier(_log_probs(probs), labels) == pytest.approx(brier)
    assert classification.confidence(_log_probs(probs)) == pytest.approx(np.mean([0.7, 0.6, 0.9]))


def test_ece_and_mce_on_hand_case():
    # confidences 0.95, 0.95 (bin 15, one right), 0.55 (bin 9, right), 0.65 (bin 10, wrong)
    probs = [[[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.35, 0.65]]]
    labels = [0, 1, 0, 0]
    gaps = {"b15": abs(0.5 - 0.95), "b9": abs(1 - 0.55), "b10": abs(0 - 0.65)}
    expected = 0.5 * gaps["b15"] + 0.25 * gaps["b9"] + 0.25 * gaps["b10"]
    assert classification.ece(_log_probs(probs), labels) == pytest.approx(expected)
    assert classification.mce(_log_probs(probs), labels) == pytest.approx(max(gaps.values()))


def test_ece_matches_loop_implementation():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, 500, 5)) * 2
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = rng.integers(0, 5, 500)
    mean = np.exp(log_probs).mean(0)
    conf, pred = mean.max(1), mean.argmax(1)
    edges = np.linspace(0, 1, 16)
    ece = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == labels[inside]).mean() - conf[inside].mean())
    assert classification.ece(log_probs, labels) == pytest.approx(ece)


def test_adaptive_ece_uses_equal_count_bins():
    conf = np.array([0.6, 0.7, 0.8, 0.9])
    probs = np.stack([conf, 1 - conf], axis=1)[None]
    labels = [0, 1, 0, 0]
    # two bins of two points: {0.6, 0.7} accuracy 0.5, {0.8, 0.9} accuracy 1
    expected = 0.5 * abs(0.5 - 0.65) + 0.5 * abs(1 - 0.85)
    assert classification.adaptive_ece(_log_probs(probs), labels, num_bins=2) == pytest.approx(expected)


def test_aurc_on_hand_case():
    probs = [[[0.9, 0.1], [0.8, 0.2], [0.6, 0.4]]]
    labels = [0, 1, 0]  # sorted by confidence: right, wrong, right
    expected = np.mean([0 / 1, 1 / 2, 1 / 3])
    assert classification.aurc(_log_probs(probs), labels) == pytest.approx(expected)


SELECTIVE_PROBS = [[[0.7, 0.3], [0.95, 0.05], [0.15, 0.85], [0.2, 0.8], [0.1, 0.9]]]
SELECTIVE_LABELS = [1, 0, 0, 1, 1]  # by confidence: 0.95 right, 0.9 right, 0.85 wrong, 0.8 right, 0.7 wrong


def test_risk_coverage_curve_and_the_selective_metrics_on_a_hand_case():
    log_probs = _log_probs(SELECTIVE_PROBS)
    risks = [0, 0, 1 / 3, 1 / 4, 2 / 5]
    np.testing.assert_allclose(classification.risk_coverage(log_probs, SELECTIVE_LABELS), risks)
    assert classification.coverage_at_risk(log_probs, SELECTIVE_LABELS, 0.05) == pytest.approx(2 / 5)
    assert classification.coverage_at_risk(log_probs, SELECTIVE_LABELS, 0.3) == pytest.approx(
        4 / 5
    )  # not monotone
    assert classification.risk_at_coverage(log_probs, SELECTIVE_LABELS, 0.8) == pytest.approx(
        1 / 4
    )  # 4 of 5 kept
    assert classification.risk_at_coverage(log_probs, SELECTIVE_LABELS, 0.5) == pytest.approx(
        1 / 3
    )  # ⌈2.5⌉ kept
    # generalised risk (errors among the k kept / 5) at coverage 0.2..1: 0, 0, .2, .2, .4; trapezoids of
    # width 0.2 sum to 0.12, over the support 0.8
    assert classification.augrc(log_probs, SELECTIVE_LABELS) == pytest.approx(0.12 / 0.8)
    values = classification.classification_metrics(log_probs, SELECTIVE_LABELS)
    assert values["cov_at_5_risk"] == pytest.approx(0.4) and values["risk_at_80_cov"] == pytest.approx(0.25)


def test_coverage_at_risk_is_nan_when_the_most_confident_point_is_wrong():
    log_probs = _log_probs([[[0.9, 0.1], [0.6, 0.4]]])
    assert np.isnan(classification.coverage_at_risk(log_probs, [1, 0], 0.05))
    assert classification.coverage_at_risk(log_probs, [1, 0], 0.5) == pytest.approx(1.0)


def test_mutual_information_and_disagreement():
    same = _log_probs([[[0.7, 0.3]], [[0.7, 0.3]]])
    assert classification.mutual_information(same) == pytest.approx(0.0, abs=1e-12)
    assert classification.disagreement(same) == 0.0
    split = _log_probs([[[0.9, 0.1]], [[0.2, 0.8]], [[0.8, 0.2]]])
    assert classification.disagreement(split) == pytest.approx(1 / 3)
    mean = np.array([0.9 + 0.2 + 0.8, 0.1 + 0.8 + 0.2]) / 3
    h = lambda p: -np.sum(p * np.log(p))  # noqa: E731
    expected = h(mean) - np.mean([h(np.array([0.9, 0.1])), h(np.array([0.2, 0.8])), h(np.array([0.8, 0.2]))])
    assert classification.mutual_information(split) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_and_aupr_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    in_scores = np.round(rng.normal(0, 1, 300), 1)  # rounding creates ties
    out_scores = np.round(rng.normal(1, 1, 200), 1)
    labels = np.r_[np.zeros(300), np.ones(200)]
    scores = np.r_[in_scores, out_scores]
    result = classification.ood_metrics(in_scores, out_scores)
    assert result["auroc"] == pytest.approx(roc_auc_score(labels, scores))
    assert result["aupr_out"] == pytest.approx(average_precision_score(labels, scores))
    assert result["aupr_in"] == pytest.approx(average_precision_score(1 - labels, -scores))


def test_fpr95_and_detection_error_on_hand_case():
    in_scores = np.arange(20, dtype=float)  # 95% of 20 in-dist points have score ≤ 18
    out_scores = np.array([5.0, 18.0, 19.0, 30.0])
    assert classification.fpr_at_95_tpr(in_scores, out_scores) == pytest.approx(2 / 4)
    # threshold 17: in accepted 18/20, out accepted 1/4 → (20/24)(2/20) + (4/24)(1/4) = 3/24;
    # threshold 4 accepts no OOD point: (20/24)(15/20) = 15/24; the minimum over thresholds is 3/24.
    assert classification.detection_error(in_scores, out_scores) == pytest.approx(3 / 24)


def test_perfect_separation():
    result = classification.ood_metrics(np.zeros(10), np.ones(10))
    assert result["auroc"] == 1.0 and result["fpr95"] == 0.0 and result["detection_error"] == 0.0


def test_reliability_bins_match_a_loop_and_pool_into_the_ece_of_the_union():
    from bdlsweep.analysis.diagnostic_plots import pooled_bins, pooled_ece

    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4, 300, 6)) * 2
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    labels = rng.integers(0, 6, 300)
    bins = classification.reliability_bins(log_probs, labels)
    mean = np.exp(log_probs).mean(0)
    conf, hits = mean.max(1), mean.argmax(1) == labels
    for b, (lo, hi) in enumerate(itertools.pairwise(np.linspace(0, 1, 16))):
        inside = (conf > lo) & (conf <= hi)
        assert bins["count"][b] == inside.sum()
        if inside.any():
            assert bins["confidence"][b] == pytest.approx(conf[inside].mean())
            assert bins["accuracy"][b] == pytest.approx(hits[inside].mean())
        else:
            assert np.isnan(bins["accuracy"][b])
    halves = [slice(0, 120), slice(120, 300)]  # two "ensembles" pooled = one over the union of points
    frames = [
        pd.DataFrame({"bin": range(15), **classification.reliability_bins(log_probs[:, part], labels[part])})
        for part in halves
    ]
    pooled = pooled_bins(pd.concat(frames))
    assert pooled["count"].tolist() == bins["count"].tolist()
    assert pooled_ece(pooled) == pytest.approx(classification.ece(log_probs, labels))


def test_score_histogram_clips_outside_values_into_the_end_bins():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    counts = classification.score_histogram([-5.0, 0.5, 1.0, 1.5, 2.9, 3.0, 7.0], edges)
    assert counts.tolist() == [2, 2, 3]
