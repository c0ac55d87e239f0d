"""A selection on the edge of its grid is named, with its seeds; interior values and short grids are not."""

from bdlsweep.analysis.grid_edges import grid_edge_notes


def test_selections_at_a_grids_edge_are_named_with_their_seeds():
    search = {
        "prior_precision": [1e-4, 1e-2, 1.0, 1e2, 1e4],
        "optimizer.lr": [0.1, 0.01, 0.001],
        "flow": ["a", "b", "c"],
    }
    configs = {
        1: {"prior_precision": 1e4, "optimizer": {"lr": 0.01}, "flow": "a"},
        2: {"prior_precision": 1.0, "optimizer": {"lr": 0.001}, "flow": "c"},
        3: {"prior_precision": 1e4, "optimizer": {"lr": 0.01}, "flow": "a"},
    }
    assert grid_edge_notes(search, configs) == [
        "prior_precision=10000 is the upper edge of its grid for seed(s) 1, 3 of 3: "
        "the best value may lie beyond it; widen the grid",
        "optimizer.lr=0.001 is the lower edge of its grid for seed(s) 2 of 3: "
        "the best value may lie beyond it; widen the grid",
    ]
    assert grid_edge_notes({"lr": [0.1, 0.01]}, {1: {"lr": 0.1}}) == []  # two values: every choice is an edge
