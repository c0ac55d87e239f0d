"""Checks of Monte Carlo samples against a known 2-D Gaussian (shared by the sampler tests)."""

import torch


def assert_gaussian_moments(samples, mean, covariance, rtol=0.15, correlation_atol=0.1):
    """Mean within 0.2 posterior std, variances within ``rtol``, correlation within ``correlation_atol``."""
    std = covariance.diag().sqrt()
    assert ((samples.mean(0) - mean).abs() < 0.2 * std).all()
    estimate = torch.cov(samples.T)
    assert torch.allclose(estimate.diag(), covariance.diag(), rtol=rtol)
    correlation = covariance[0, 1] / (std[0] * std[1])
    assert abs(estimate[0, 1] / estimate.diag().sqrt().prod() - correlation) < correlation_atol
