"""Ensemble evaluation with Ray actors: each actor loads one method's selected members once.

For every ensemble it draws the posterior samples (stratified across members when asked),
predicts on the test, shifted and OOD sets with the same samples, and computes every metric of
the dataset's likelihood at each subsample size (OOD scores: predictive entropy, or total
variance for regression). Single models (K = 1) go through the same path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import ray
import torch

from bdlsweep.analysis import metrics
from bdlsweep.sweeps.ensemble_plan import members_of
from bdlsweep.sweeps.stratified import draw_members
from bdlsweep.trainables.data import load_dataset
from bdlsweep.trainables.likelihood import LIKELIHOODS
from bdlsweep.trainables.registry import posterior_class
from bdlsweep.trainables.training import trial_device


def _generator_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


class EnsembleEvaluator:
    """Holds one method's selected members and the evaluation sets; scores ensembles of them."""

    def __init__(
        self,
        label: str,
        method: str,
        derived: str | None,
        checkpoints: dict[int, str],
        dataset: str,
        dataset_options: dict[str, Any],
        settings: dict[str, Any],
    ) -> None:
        self.label = label
        self.settings = settings
        self.device = trial_device()
        data = load_dataset(dataset, dataset_options)
        train_inputs = data.train.inputs.to(self.device)
        cls = posterior_class(method, derived)
        self.members = {
            seed: cls.load(folder, self.device, train_inputs) for seed, folder in checkpoints.items()
        }
        self.likelihood = LIKELIHOODS[data.likelihood]
        self.test = (data.test.inputs.to(self.device), data.test.labels.numpy())
        splits = settings["splits"]
        self.shift = data.shift if "shift" in splits else {}
        self.ood = data.ood if "ood" in splits else {}

    def _outputs(self, inputs, seeds, draws, ensemble_seed) -> torch.Tensor:
        """Per-sample predictives ``[S, N, K]`` in draw order; samples fixed per member."""
        outputs = None
        for index, seed in enumerate(seeds):
            count = int(np.sum(draws == index))
            if count == 0:
                continue
            generator = torch.Generator(device=self.device)
            generator.manual_seed(_generator_seed(ensemble_seed, seed))
            member = self.members[seed].predict(inputs.to(self.device), count, generator).cpu()
            if outputs is None:
                outputs = torch.empty(len(draws), *member.shape[1:])
            outputs[torch.from_numpy(draws == index)] = member
        return outputs

    def evaluate(self, size: int, ensemble_id: int, model_ids: str) -> list[dict[str, Any]]:
        """Metric rows of one ensemble: per subsample size and per split (test, shift, ood)."""
        seeds = members_of(model_ids)
        ensemble_seed = _generator_seed(self.settings["seed"], size, ensemble_id)
        if all(self.members[seed].deterministic for seed in seeds):
            draws = np.arange(len(seeds))
            sizes = [len(seeds)]
        else:
            total = self.settings["num_posterior_samples"]
            rng = np.random.default_rng(ensemble_seed)
            draws = draw_members(len(seeds), total, self.settings["stratified"], rng)
            sizes = sorted({n for n in self.settings["subsample_sizes"] if n <= total} | {total})
        key = {"method": self.label, "K": size, "ensemble_id": ensemble_id, "members": model_ids}
        test_inputs, test_labels = self.test
        test_out = self._outputs(test_inputs, seeds, draws, ensemble_seed)
        shifted = {
            name: (self._outputs(s.inputs, seeds, draws, ensemble_seed), s.labels.numpy())
            for name, s in self.shift.items()
        }
        ood = {name: self._outputs(x, seeds, draws, ensemble_seed) for name, x in self.ood.items()}
        rows = []
        for n in sizes:
            base = {**key, "num_samples": n}
            if "test" in self.settings["splits"]:
                values = self.likelihood.metrics(test_out[:n], test_labels)
                rows.append({**base, "split": "test", **{f"test_{k}": v for k, v in values.items()}})
            for (corruption, severity), (out, labels) in shifted.items():
                values = self.likelihood.metrics(out[:n], labels)
                rows.append(
                    {
                        **base,
                        "split": "shift",
                        "corruption": corruption,
                        "severity": severity,
                        **{f"shift_{k}": v for k, v in values.items()},
                    }
                )
            in_scores = self.likelihood.ood_score(test_out[:n])
            for name, out in ood.items():
                values = metrics.ood_metrics(in_scores, self.likelihood.ood_score(out[:n]))
                rows.append(
                    {
                        **base,
                        "split": "ood",
                        "ood_set": name,
                        **{f"ood_{k}": v for k, v in values.items()},
                    }
                )
        return rows

    def evaluate_plan(self, plan: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
        """Rows of every ensemble in ``plan`` (K, ensemble_id, model_ids)."""
        return [row for size, ensemble_id, ids in plan for row in self.evaluate(size, ensemble_id, ids)]


def evaluate_ensembles(
    selections: dict[str, Any],
    plan: pd.DataFrame,
    dataset: str,
    dataset_options: dict[str, Any],
    settings: dict[str, Any],
    resources: dict[str, float],
) -> pd.DataFrame:
    """One Ray actor per method evaluates all its ensembles; methods run in parallel."""
    actor_class = ray.remote(EnsembleEvaluator).options(
        num_cpus=resources.get("cpu", 1),
        num_gpus=resources.get("gpu", 0),
        resources={k: v for k, v in resources.items() if k not in {"cpu", "gpu"}} or None,
    )
    ensembles = list(plan[["K", "ensemble_id", "model_ids"]].itertuples(index=False, name=None))
    futures = []
    for label, selection in selections.items():
        actor = actor_class.remote(
            label,
            selection.method,
            selection.derived,
            selection.checkpoints(),
            dataset,
            dataset_options,
            settings,
        )
        futures.append(actor.evaluate_plan.remote(ensembles))
    rows = [row for batch in ray.get(futures) for row in batch]
    return pd.DataFrame(rows)
