"""The Posterior interface, the shared kinds of posterior, and checkpoint folders."""
