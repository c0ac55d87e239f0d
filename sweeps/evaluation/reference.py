"""The reference posterior an evaluation measures every ensemble against (``evaluate.reference``)."""

from __future__ import annotations

from bdlsweep.metrics.reference_agreement import ReferencePredictive
from bdlsweep.sweeps.evaluation.evaluation_sets import evaluation_data
from bdlsweep.sweeps.spec.models import SweepSpec
from bdlsweep.sweeps.spec.reference_check import fitted_reference


def evaluation_reference(spec: SweepSpec) -> str | ReferencePredictive | None:
    """The reference method's label, or the reference file's predictions checked against the test set
    (``SpecError`` where they do not fit it); None without a reference."""
    if spec.reference_file is None:
        return spec.evaluate.reference
    data = evaluation_data(spec.dataset, spec.dataset_options, spec.evaluate.splits)
    dimensions = data.width // data.likelihood.num_outputs(1)
    return fitted_reference(spec.source, spec.reference_file, len(data.set(0)), dimensions)
