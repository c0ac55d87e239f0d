"""Datasets by name: each loader returns train/val/test splits plus shifted and OOD sets."""

from bdlsweep.trainables.data.registry import DATASET_LIKELIHOODS, DATASETS, dataset_options, load_dataset
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet

__all__ = [
    "DATASETS",
    "DATASET_LIKELIHOODS",
    "DatasetSplits",
    "LabelledSet",
    "dataset_options",
    "load_dataset",
]
