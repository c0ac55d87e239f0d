"""The validated sweep: the file read into pydantic models; its stages, cells, grids and data checked."""
