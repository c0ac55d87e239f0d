"""Metrics of predictive samples, pure functions a trial, an evaluation and a report share: classification
(accuracy, ELPD, calibration, OOD detection, selective prediction), regression, and sums over samples."""
