"""MLflow: one run per trial, the sweep's run tree and parent-run status, backfill, the server check."""
