"""Datasets by name: each loader returns train/val/test splits plus shifted and OOD sets."""

from bdlsweep.trainables.data.registry import DATASETS, dataset_options, load_dataset
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet

__all__ = ["DATASETS", "DatasetSplits", "LabelledSet", "dataset_options", "load_dataset"]
