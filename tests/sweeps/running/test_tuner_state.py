"""A Tuner whose state file was cut short by a killed driver still restores from the copy kept beside it."""

from ray import tune

from bdlsweep.sweeps.running.tuner_state import KEPT_COPY, TUNER_STATE, keep_tuner_state, repair_tuner_state


def _trainable(config):
    tune.report({"score": config["x"]})


def test_a_state_file_cut_short_is_put_back_from_the_kept_copy_and_restores(tmp_path):
    tune.Tuner(
        _trainable,
        param_space={"x": tune.grid_search([1, 2])},
        run_config=tune.RunConfig(name="stage", storage_path=str(tmp_path)),
    )
    folder = str(tmp_path / "stage")
    assert not repair_tuner_state(folder)  # nothing kept yet, and the file is whole
    keep_tuner_state(folder)
    whole = (tmp_path / "stage" / TUNER_STATE).read_bytes()
    assert (tmp_path / "stage" / KEPT_COPY).read_bytes() == whole
    (tmp_path / "stage" / TUNER_STATE).write_bytes(b"")  # a driver killed while Tune rewrote it
    assert repair_tuner_state(folder)
    assert (tmp_path / "stage" / TUNER_STATE).read_bytes() == whole
    assert not repair_tuner_state(folder)  # a whole file is left alone
    assert tune.Tuner.restore(folder, _trainable).get_results is not None
