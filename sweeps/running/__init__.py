"""Stages as Tune Tuners: param spaces, early stopping, selection, refit, resume and replay."""
