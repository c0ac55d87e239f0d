"""Studies beside the sweep: posterior surfaces and prior studies of a sweep file's model."""
