"""bdlsweep: Bayesian deep learning experiments as Ray Tune sweeps, tracked in MLflow."""

__version__ = "0.1.0"
