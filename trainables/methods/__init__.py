"""One module per method: its settings, its Posterior, its Ray Tune trainable and its registry entry."""
