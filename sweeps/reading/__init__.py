"""A sweep file's raw mapping: one-line errors, overrides, names, suite cells and their settings,
ensemble files."""
