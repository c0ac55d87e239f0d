"""Methods: how each posterior approximation fits, its Posterior, and its Ray Tune trainable."""
