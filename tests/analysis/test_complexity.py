"""Parameter and FLOP counts against hand counts (2·in·out per example for a linear layer)."""

import pytest
import torch

from bdlsweep.analysis.complexity import SampleCost, flops_per_example, num_parameters, posterior_cost
from bdlsweep.trainables.models import build_model
from bdlsweep.trainables.posteriors.base import ModelRecipe


def test_a_linear_layer_costs_two_flops_per_weight_per_example():
    layer = torch.nn.Linear(7, 3)
    assert flops_per_example(layer, torch.randn(10, 7)) == 2 * 7 * 3
    assert num_parameters(layer) == 7 * 3 + 3


def test_an_mlp_costs_the_sum_of_its_layers_and_one_input_is_refused():
    model = build_model("mlp", {"hidden": [16, 8]}, (12,), 4)
    assert flops_per_example(model, torch.randn(6, 12)) == 2 * (12 * 16 + 16 * 8 + 8 * 4)
    with pytest.raises(ValueError, match="two inputs"):
        flops_per_example(model, torch.randn(1, 12))


def test_work_done_once_per_call_is_not_charged_to_the_predictions():
    layer = torch.nn.Linear(5, 5)
    setup = torch.randn(100, 5)

    def predict(batch):
        layer(setup)  # a fixed cost per call, e.g. a batch-norm update
        return layer(batch)

    assert flops_per_example(predict, torch.randn(8, 5)) == 2 * 5 * 5


def test_a_network_costs_one_forward_pass_whatever_the_number_of_samples():
    from bdlsweep.trainables.registry import posterior_class

    recipe = ModelRecipe("mlp", {"hidden": [16]}, (12,), 4, "classification")
    posterior = posterior_class("map")(recipe.build(), recipe)
    cost = posterior_cost(posterior, torch.randn(8, 12), lambda: torch.Generator().manual_seed(0))
    assert cost == SampleCost(fixed=2 * (12 * 16 + 16 * 4), per_sample=0)
    assert cost.at(5) == cost.fixed


def test_a_last_layer_laplace_costs_one_backbone_pass_plus_a_head_per_sample():
    from bdlsweep.trainables.posteriors.head_laplace import LLLAPosterior, fit_head_laplace
    from bdlsweep.trainables.posteriors.last_layer import backbone_features

    torch.manual_seed(0)
    recipe = ModelRecipe("mlp", {"hidden": [16, 8]}, (12,), 4, "classification")
    model = recipe.build()
    inputs, labels = torch.randn(40, 12), torch.randint(0, 4, (40,))
    laplace = fit_head_laplace(model.head, backbone_features(model, inputs), labels, "full")
    posterior = LLLAPosterior(model, [laplace], "nn", "base", "prepared", "full")
    cost = posterior_cost(posterior, inputs[:8], lambda: torch.Generator().manual_seed(0))
    assert cost.fixed == 2 * (12 * 16 + 16 * 8)  # the backbone, once
    assert cost.per_sample == 2 * 8 * 4  # one sampled head
    assert cost.at(100) == cost.fixed + 100 * cost.per_sample


def test_weight_samples_batched_with_vmap_cost_one_forward_pass_each():
    from bdlsweep.trainables.posteriors.swag_gaussian import SWAGMoments, SWAGPosterior

    torch.manual_seed(0)
    recipe = ModelRecipe("mlp", {"hidden": [16]}, (12,), 4, "classification")
    model = recipe.build()
    mean = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    moments = SWAGMoments(len(mean), rank=3)
    for _ in range(4):
        moments.collect(mean + 0.05 * torch.randn_like(mean))
    posterior = SWAGPosterior(model, recipe, moments)
    inputs = torch.randn(8, 12)
    assert posterior.batched(inputs)
    cost = posterior_cost(posterior, inputs, lambda: torch.Generator().manual_seed(0))
    assert cost == SampleCost(fixed=0, per_sample=2 * (12 * 16 + 16 * 4))


def test_lenet5_and_packed_lenet5_cost_what_the_tutorial_reports():
    """TorchUncertainty's MNIST tutorial prints 1.15 G and 1.51 G FLOPs for a 2,048-image test batch."""
    options = {"padding": 0}
    lenet = build_model("lenet5", options, (1, 28, 28), 10)
    packed = build_model("packed_lenet5", {**options, "alpha": 2.0, "num_estimators": 4}, (1, 28, 28), 10)
    images = torch.randn(4, 1, 28, 28)
    # conv 6·24²·25, conv 16·8²·150, then 256·120, 120·84, 84·10 multiply-adds
    assert flops_per_example(lenet, images) == 2 * (86_400 + 153_600 + 30_720 + 10_080 + 840) == 563_280
    # the same layers widened by 2, four groups after the first: each output reads a quarter of its inputs
    assert flops_per_example(packed, images) == 2 * (172_800 + 153_600 + 30_720 + 10_080 + 1_680) == 737_760
    assert round(2048 * 563_280 / 1e9, 2) == 1.15 and round(2048 * 737_760 / 1e9, 2) == 1.51
