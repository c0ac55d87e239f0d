"""SWA's learning-rate schedule matches the SWAG and MultiSWAG code's (run_swag.py's ``schedule``)."""

import pytest
import torch

from bdlsweep.trainables.runtime.optimization import build_schedule
from bdlsweep.trainables.settings import ScheduleSettings


def _reference(epoch: int, epochs: int, lr: float, final_lr: float) -> float:
    """understandingbdl experiments/train/run_swag.py:117-126, written out independently."""
    t = epoch / epochs
    ratio = final_lr / lr
    if t <= 0.5:
        return lr
    if t <= 0.9:
        return lr * (1.0 - (1.0 - ratio) * (t - 0.5) / 0.4)
    return lr * ratio


@pytest.mark.parametrize(("epochs", "final_ratio"), [(160, 0.1), (300, 0.01), (7, 0.5)])
def test_the_swa_schedule_follows_the_reference_at_every_epoch(epochs, final_ratio):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    schedule = build_schedule(optimizer, ScheduleSettings(name="swa", final_ratio=final_ratio), epochs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [_reference(epoch, epochs, 0.1, 0.1 * final_ratio) for epoch in range(epochs)]
    assert rates == pytest.approx(expected, rel=1e-12)
    assert rates[0] == 0.1
    if epochs > 10:  # the last tenth of the epochs runs at the final rate
        assert rates[-1] == pytest.approx(0.1 * final_ratio)
