import pytest

from bdlsweep.analysis.selection_checks import outlier_notes, worse_than_parent_notes


def test_a_selection_below_its_parent_is_named_with_its_seeds_values_and_a_hint():
    notes = worse_than_parent_notes(
        "swag", "swag", "val_elpd", {1: -8.5, 2: -0.30, 3: -0.41}, "map", {1: -0.42, 2: -0.35, 3: -0.40}
    )
    assert notes == [
        "swag is worse on validation than the map it starts from (seed 1 val_elpd=-8.5 < -0.42, "
        "seed 3 val_elpd=-0.41 < -0.4): lower the SWAG learning-rate grid"
    ]
    assert worse_than_parent_notes("llla", "llla", "val_elpd", {1: -0.3}, "map", {1: -0.4}) == []
    assert worse_than_parent_notes("llla", "llla", "val_elpd", {1: -0.3}, "map", {2: -0.1}) == []  # no pair


@pytest.mark.parametrize(
    ("values", "flagged"),
    [
        ({"a": -0.30, "b": -0.35, "c": -141963.0}, ["c"]),  # the blow-up seen on Yacht's SWAG grid
        ({"a": -0.30, "b": -0.35, "c": -5.0}, []),  # 17× worse, but within 10 of a median below 1
        ({"a": 2.0, "b": 1.5, "c": -30.0}, ["c"]),  # regression ELPDs above 0: the margin is 10 × |median|
        ({"a": 2.0, "b": 1.5, "c": -10.0}, []),
    ],
)
def test_trials_orders_of_magnitude_below_their_seeds_median_are_named(values, flagged):
    notes = outlier_notes("swag", "val_elpd", {1: values})
    named = [
        name for name in values for note in notes if f"({name} val_elpd=" in note or f", {name} " in note
    ]
    assert named == flagged
    assert all(note.startswith("swag: seed 1 has trials orders of magnitude below") for note in notes)
    assert outlier_notes("swag", "val_elpd", {1: {"a": -1e9}}) == []  # one trial: nothing to compare with


def test_the_hint_points_past_the_grid_edge_the_worse_seeds_were_selected_at():
    # Yacht's subspace selected the highest temperature and was still worse than its SWAG parent.
    notes = worse_than_parent_notes(
        "subspace",
        "subspace",
        "val_elpd",
        {1: -19.8},
        "swag",
        {1: -0.5},
        {"temperature": [0.1, 1.0, 10.0]},
        {1: {"temperature": 10.0}},
    )
    assert notes[0].endswith("temperature was selected at its grid's highest value: extend the grid above it")
    assert "lower" not in notes[0]


def test_selected_edges_names_an_edge_only_when_every_seed_chose_it():
    from bdlsweep.analysis.grid_edges import selected_edges

    search = {"temperature": [1.0, 10.0, 100.0], "lr": [0.1, 0.2]}
    top = {1: {"temperature": 100.0, "lr": 0.2}, 2: {"temperature": 100.0, "lr": 0.1}}
    assert selected_edges(search, top) == {"temperature": "highest"}  # lr's grid is too short to have edges
    assert selected_edges(search, {1: {"temperature": 1.0}}) == {"temperature": "lowest"}
    assert selected_edges(search, {1: {"temperature": 1.0}, 2: {"temperature": 100.0}}) == {}
    assert selected_edges(search, {1: {"temperature": 10.0}}) == {}


def test_a_stage_that_searches_nothing_is_not_told_to_change_its_grid():
    notes = worse_than_parent_notes("swag", "swag", "val_elpd", {1: -0.9}, "map", {1: -0.8}, search={})
    assert notes[0].endswith(
        "it searches nothing: its settings are fixed by the sweep file (search a grid to tune them)"
    )
    assert "grid:" not in notes[0]
