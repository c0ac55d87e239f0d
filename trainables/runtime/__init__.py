"""The trial runtime: context, shared trial loop, reports and checkpoints to Tune, training batches."""
