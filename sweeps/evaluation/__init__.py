"""Ensembles evaluated as map and reduce Ray tasks, and the main tables written from them."""
