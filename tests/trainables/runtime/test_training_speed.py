"""The training loop's speed settings (bf16 autocast, channels-last, torch.compile) train the same model."""

import pytest
import torch
from repo_paths import ROOT

from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.runtime.training import for_training, train_epoch
from bdlsweep.trainables.settings import SpeedSettings


def _epoch(speed: SpeedSettings) -> tuple[torch.nn.Module, float, list[torch.dtype]]:
    """One epoch on fixed random images from a fixed initialisation; the model, loss and forward dtypes."""
    torch.manual_seed(0)
    model = build_model("cnn", {"channels": [4, 8], "batch_norm": False}, (3, 8, 8), 5)
    inputs, labels = torch.rand(96, 3, 8, 8), torch.randint(0, 5, (96,))
    dtypes: list[torch.dtype] = []
    model.head.register_forward_hook(lambda module, args, output: dtypes.append(output.dtype))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trained = for_training(model, speed)
    loss = train_epoch(trained, optimizer, inputs, labels, 32, torch.Generator().manual_seed(1), speed=speed)
    return model, loss, dtypes


def _parameters(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([parameter.detach().reshape(-1).float() for parameter in model.parameters()])


def test_bf16_runs_forward_passes_in_bfloat16_and_tracks_fp32_training():
    reference, reference_loss, reference_dtypes = _epoch(SpeedSettings())
    model, loss, dtypes = _epoch(SpeedSettings(precision="bf16"))
    assert set(reference_dtypes) == {torch.float32} and set(dtypes) == {torch.bfloat16}
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())  # fp32 master weights
    assert loss == pytest.approx(reference_loss, rel=0.02)
    assert torch.allclose(_parameters(model), _parameters(reference), atol=2e-2)
    assert not torch.equal(_parameters(model), _parameters(reference))  # bf16 rounding did happen


def test_channels_last_stores_conv_weights_channels_last_and_trains_the_same_weights():
    reference, reference_loss, _ = _epoch(SpeedSettings())
    model, loss, _ = _epoch(SpeedSettings(channels_last=True))
    convs = [module for module in model.modules() if isinstance(module, torch.nn.Conv2d)]
    assert convs and all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convs)
    assert loss == pytest.approx(reference_loss, rel=1e-5)
    torch.testing.assert_close(_parameters(model), _parameters(reference), rtol=1e-4, atol=1e-5)


def test_a_compiled_forward_pass_trains_the_same_weights():
    reference, reference_loss, _ = _epoch(SpeedSettings())
    model, loss, _ = _epoch(SpeedSettings(compile="aot_eager"))
    assert loss == pytest.approx(reference_loss, rel=1e-5)
    torch.testing.assert_close(_parameters(model), _parameters(reference), rtol=1e-4, atol=1e-5)


def test_sweep_files_set_speed_per_stage_and_bad_values_are_one_line_errors(tmp_path, capsys):

    from bdlsweep.cli import main
    from bdlsweep.sweeps.spec.loading import load_spec

    quickstart = ROOT / "sweeps" / "quickstart.yaml"
    overrides = ["stages.map.speed={precision: bf16, channels_last: true, compile: inductor}"]
    spec = load_spec(quickstart, [*overrides, f"storage={tmp_path / 's'}"])
    expected = SpeedSettings(precision="bf16", channels_last=True, compile="inductor")
    assert spec.stages["map"].settings.speed == expected
    assert main(["run", str(quickstart), "stages.map.speed.precision=fp8", "--dry-run"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "stages.map.speed.precision" in error


def test_weight_vector_flattens_channels_last_weights_in_the_contiguous_order():
    from torch.nn.utils import parameters_to_vector

    from bdlsweep.trainables.inference.network_weights import weight_vector

    torch.manual_seed(0)
    model = build_model("cnn", {"channels": [4, 8], "batch_norm": False}, (3, 8, 8), 5)
    reference = parameters_to_vector(model.parameters()).detach().clone()
    for_training(model, SpeedSettings(channels_last=True))
    assert torch.equal(weight_vector(model.parameters()).detach(), reference)


@pytest.mark.parametrize("sampler", ["sgld", "sghmc"])
def test_sgmcmc_samples_the_same_weights_with_channels_last(sampler):
    from bdlsweep.trainables.inference.network_weights import weight_vector
    from bdlsweep.trainables.methods.sgmcmc import SGMCMCSettings, _sampler

    inputs, labels = torch.rand(64, 3, 8, 8), torch.randint(0, 5, (64,))
    weights = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        model = build_model("cnn", {"channels": [4, 8], "batch_norm": False}, (3, 8, 8), 5)
        start = weight_vector(model.parameters()).detach().clone()
        speed = SpeedSettings(channels_last=channels_last)
        settings = SGMCMCSettings(sampler=sampler, lr=1e-3, speed=speed)
        optimizer = _sampler(model, settings, len(labels), torch.Generator().manual_seed(3))
        trained = for_training(model, speed)
        train_epoch(trained, optimizer, inputs, labels, 16, torch.Generator().manual_seed(1), speed=speed)
        weights.append(weight_vector(model.parameters()).detach())
        assert not torch.allclose(weights[-1], start)  # the sampler moved the weights
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_streamed_from_host_memory_train_exactly_as_on_device_batches(workers):
    from bdlsweep.trainables.data.image_sets import CropFlip

    augment = CropFlip(padding=2, fill=torch.zeros(3))
    inputs, labels = torch.rand(100, 3, 8, 8), torch.randint(0, 5, (100,))
    trained = []
    for speed in (SpeedSettings(), SpeedSettings(train_data="host", loader_workers=workers)):
        torch.manual_seed(0)
        model = build_model("cnn", {"channels": [4, 8], "batch_norm": True}, (3, 8, 8), 5)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        generator = torch.Generator().manual_seed(1)
        losses = [
            train_epoch(model, optimizer, inputs, labels, 32, generator, augment=augment, speed=speed)
            for _ in range(2)
        ]
        trained.append((_parameters(model), losses, generator.get_state(), torch.get_rng_state()))
    (device_weights, device_losses, device_generator, device_global), host = trained[0], trained[1]
    assert torch.equal(host[0], device_weights) and host[1] == device_losses
    assert torch.equal(host[2], device_generator) and torch.equal(host[3], device_global)


def test_a_training_set_kept_in_host_memory_stays_there_while_val_and_test_move():
    from bdlsweep.trainables.data.registry import load_dataset

    splits = load_dataset("digits", {})
    moved = splits.to(torch.device("meta"), train=False)
    assert moved.train.inputs.device.type == "cpu" and moved.train.labels.device.type == "cpu"
    assert moved.val.inputs.is_meta and moved.test.labels.is_meta
    assert splits.to(torch.device("meta")).train.inputs.is_meta
