"""A posterior blown up by its settings is diverged, not a result: why SWAG blew up on UCI Yacht, and the
rule that marks a trial whose validation scores lie orders of magnitude beyond its parent's."""

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tune_session import run_in_session

from bdlsweep.trainables.inference.likelihoods import LIKELIHOODS
from bdlsweep.trainables.models.mlp import MLP
from bdlsweep.trainables.runtime.context import TrialContext
from bdlsweep.trainables.runtime.reporting import COMPLETE, DIVERGED, DIVERGED_BECAUSE, beyond_parent
from bdlsweep.trainables.runtime.trial_loop import IterativeFit, TrialStart, run_fit

REGRESSION = LIKELIHOODS["regression"]


def _near_noiseless(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth function of 6 inputs with noise of 0.5% of its spread (UCI Yacht is near-noiseless),
    standardised as the UCI loader does."""
    x = torch.rand(count, 6, generator=generator) * 2 - 1
    f = torch.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.5 * x[:, 2] * x[:, 3]
    y = f + 0.005 * f.std() * torch.randn(count, generator=generator)
    return x, ((y - y.mean()) / y.std()).unsqueeze(1)


def _epochs(model, optimizer, x, y, epochs: int, batch: int, generator: torch.Generator) -> None:
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            rows = order[start : start + batch]
            optimizer.zero_grad()
            REGRESSION.loss(model(x[rows]), y[rows]).backward()
            optimizer.step()


def _scores(model, x, y) -> dict[str, float]:
    with torch.no_grad():
        return REGRESSION.validation(REGRESSION.predictive(model(x)).unsqueeze(0), y)


def _sgd(model: torch.nn.Module, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=weight_decay)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    x, y = _near_noiseless(300, generator)
    return x[:250], y[:250], x[250:], y[250:]


def test_sgd_from_an_adam_map_on_near_noiseless_data_blows_up_and_is_diverged(data):
    """The mechanism: Adam drives the predicted variances to ~1e-4, and the Gaussian NLL's gradient in
    the mean is (μ − y)/σ², about 1e4 times larger than at unit variance. Adam's steps do not scale with
    the gradient; SGD's do, so the first SGD epoch at lr 1e-3 (SWAG's, from the Adam MAP) throws the
    weights far away. The source's protocol, SGD from the start, never reaches such variances with a
    step that large, and stays."""
    x, y, val_x, val_y = data
    generator = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    adam_map = MLP((6,), 2, hidden=(50,))
    _epochs(
        adam_map,
        torch.optim.Adam(adam_map.parameters(), lr=1e-3, weight_decay=1e-2),
        x,
        y,
        600,
        100,
        generator,
    )
    parent = _scores(adam_map, val_x, val_y)
    with torch.no_grad():
        variances = REGRESSION.predictive(adam_map(x))[:, 1]
    assert variances.median() < 3e-3  # Adam's MAP is sure of itself: σ² ~ 1e-3 of the unit target variance
    _epochs(adam_map, _sgd(adam_map, 1e-2), x, y, 1, 100, generator)
    blown = _scores(adam_map, val_x, val_y)
    because = beyond_parent(blown, parent)
    assert because is not None and math.isfinite(blown["val_rmse"])  # finite, so only the parent rule sees it
    assert blown["val_rmse"] > 20 * parent["val_rmse"] and blown["val_elpd"] < parent["val_elpd"] - 100

    torch.manual_seed(1)
    sgd_map = MLP((6,), 2, hidden=(50,))
    _epochs(sgd_map, _sgd(sgd_map, 1e-3), x, y, 300, 30, generator)
    parent = _scores(sgd_map, val_x, val_y)
    _epochs(sgd_map, _sgd(sgd_map, 1e-3), x, y, 20, 30, generator)
    continued = _scores(sgd_map, val_x, val_y)
    assert beyond_parent(continued, parent) is None
    assert continued["val_rmse"] < 3 * parent["val_rmse"]


@pytest.mark.parametrize(
    ("metrics", "parent", "reason"),
    [
        (
            {"val_rmse": 41.0, "val_elpd": -3.0},
            {"val_rmse": 0.4, "val_elpd": -0.2},
            "val_rmse=41 is over 100×",
        ),
        ({"val_rmse": 39.0, "val_elpd": -3.0}, {"val_rmse": 0.4, "val_elpd": -0.2}, None),
        ({"val_elpd": -12.5}, {"val_elpd": 0.2}, "val_elpd=-12.5 is over 10 × max(|0.2|, 1) below"),
        ({"val_elpd": -9.5}, {"val_elpd": 0.2}, None),
        ({"val_elpd": -43.0}, {"val_elpd": -4.0}, None),  # 39 nats worse, and 10 × 4 = 40 is the bar
        ({"val_elpd": -45.0}, {"val_elpd": -3.0}, "below its parent's"),
        ({"val_elpd": -1e9}, None, None),  # no parent, nothing to hold it against
        ({"val_elpd": math.nan}, {"val_elpd": -1.0}, None),  # non-finite: the objective rule's case
    ],
)
def test_beyond_parent_flags_orders_of_magnitude_and_nothing_less(metrics, parent, reason):
    found = beyond_parent(metrics, parent)
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found


class _Blowing(IterativeFit):
    """A fit whose validation RMSE jumps from 0.5 to 80 at its second step (what SWAG did on Yacht)."""

    steps = 3

    def step(self, index: int):
        rmse = 0.5 if index == 0 else 80.0
        return {"val_rmse": rmse, "val_elpd": -1.0, "train_loss": 1.0}, _Posterior()

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _Posterior:
    def save(self, folder):
        Path(folder).mkdir(parents=True)


def test_the_trial_loop_ends_a_trial_at_its_first_report_beyond_its_parent(tmp_path):
    parent = {1: {"val_rmse": 0.4, "val_elpd": -1.0}}
    context = TrialContext("s", "swag", "diabetes", {}, "mlp", {}, parent_scores=parent)
    start = TrialStart(SimpleNamespace(checkpoint_every_s=0.0), 1, torch.Generator(), torch.device("cpu"))
    session = run_in_session(lambda config, ctx: run_fit(_Blowing(), start, ctx), {}, context, tmp_path)
    (first, kept), (second, dropped) = session.reports[:2]
    assert not first[DIVERGED] and kept is not None
    assert second[DIVERGED] and second[COMPLETE] and dropped is None
    assert second[DIVERGED_BECAUSE] == "val_rmse=80 is over 100× its parent's 0.4"
    lone = TrialContext("s", "swag", "diabetes", {}, "mlp", {})  # no parent: the same trial is a result
    session = run_in_session(lambda config, ctx: run_fit(_Blowing(), start, ctx), {}, lone, tmp_path / "b")
    assert not any(report[DIVERGED] for report, _ in session.reports)
