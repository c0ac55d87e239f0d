"""SST-2 (GLUE TSV files) and IMDB (the aclImdb folder of text files), tokenised locally.

The tokenizer is trained on the training split (or loaded from the ``tokenizer`` path the user or
the pipeline gives: a sweep trains it once, saves it in its storage folder and every trial loads
that file). Inputs are token ids ``[N, L]`` with 0 as padding; models get ``vocab_size``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from bdlsweep.storage.locations import Location
from bdlsweep.trainables.data.files import MalformedDataFileError, data_file, reading
from bdlsweep.trainables.data.splits import DatasetSplits, LabelledSet
from bdlsweep.trainables.data.text_encoding import (
    TokenizerKind,
    encode,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)

SST2_FOLDERS = ["SST-2", "glue_data/SST-2"]
SST2_SOURCE = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip (GLUE)"
IMDB_SOURCE = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"


def _read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """GLUE's ``sentence<TAB>label`` file with a header row."""
    with reading(path, "a UTF-8 sentence<TAB>label file"), path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        if rows and not {"sentence", "label"} <= set(rows[0]):
            found = sorted(rows[0])
            raise MalformedDataFileError(f"{path}: expected the columns sentence and label, found {found}")
        return [row["sentence"] for row in rows], [int(row["label"]) for row in rows]


def _sst2_file(data_dir: str, name: str) -> Path:
    return data_file(data_dir, [f"{folder}/{name}" for folder in SST2_FOLDERS], "sst2", SST2_SOURCE)


def _imdb_split(data_dir: str, split: str) -> tuple[list[str], list[int]]:
    """The reviews of ``aclImdb/<split>/{neg,pos}``, in sorted file order; labels neg 0, pos 1."""
    texts, labels = [], []
    for label, polarity in enumerate(("neg", "pos")):
        folder = data_file(data_dir, [f"aclImdb/{split}/{polarity}"], "imdb", IMDB_SOURCE)
        files = sorted(folder.glob("*.txt"))
        if not files:
            raise ValueError(f"imdb: {folder} holds no .txt reviews")
        for path in files:
            with reading(path, "a UTF-8 review"):
                texts.append(path.read_text(encoding="utf-8"))
        labels += [label] * len(files)
    return texts, labels


def _tokenised(
    train: tuple[list[str], list[int]],
    val: tuple[list[str], list[int]],
    test: tuple[list[str], list[int]],
    kind: TokenizerKind,
    vocab_size: int,
    max_length: int,
    tokenizer_path: str | None,
) -> DatasetSplits:
    tokenizer = (
        load_tokenizer(tokenizer_path) if tokenizer_path else train_tokenizer(train[0], kind, vocab_size)
    )
    inputs = encode(tokenizer, [train[0], val[0], test[0]], kind, max_length)
    labelled = [
        LabelledSet(ids, torch.tensor(labels, dtype=torch.int64))
        for ids, (_, labels) in zip(inputs, (train, val, test), strict=True)
    ]
    return DatasetSplits(
        train=labelled[0],
        val=labelled[1],
        test=labelled[2],
        target_size=2,
        model_arguments={"vocab_size": tokenizer.get_vocab_size()},
    )


def _held_out(texts: list[str], labels: list[int], count: int, seed: int):
    """(first ``count`` of a fixed permutation, the rest) of a labelled text list."""
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    pick = [(texts[i], labels[i]) for i in order]
    first, rest = pick[:count], pick[count:]
    return ([t for t, _ in first], [y for _, y in first]), ([t for t, _ in rest], [y for _, y in rest])


def _sst2_splits(data_dir: str, test_file: str | None, split_seed: int):
    train = _read_tsv(_sst2_file(data_dir, "train.tsv"))
    dev = _read_tsv(_sst2_file(data_dir, "dev.tsv"))
    if test_file is not None:
        path = data_file(data_dir, [test_file], "sst2", "a labelled sentence<TAB>label file of your own")
        return train, dev, _read_tsv(path)
    val, test = _held_out(*dev, len(dev[0]) // 2, split_seed)
    return train, val, test


def load_sst2(
    data_dir: str,
    max_length: int = 268,
    vocab_size: int = 30522,
    tokenizer: str | None = None,
    test_file: str | None = None,
    split_seed: int = 0,
) -> DatasetSplits:
    """SST-2 from GLUE's ``train.tsv`` / ``dev.tsv`` (under ``SST-2/`` or ``glue_data/SST-2/``).

    Training: GLUE train. With ``test_file`` (a labelled ``sentence<TAB>label`` TSV, relative to
    ``data_dir``) validation is GLUE dev and test that file; without it, GLUE dev is split in half
    (fixed permutation) into validation and test, since GLUE's own test labels are not public.
    """
    train, val, test = _sst2_splits(data_dir, test_file, split_seed)
    return _tokenised(train, val, test, "wordpiece", vocab_size, max_length, tokenizer)


def load_imdb(
    data_dir: str,
    val_size: int = 2500,
    max_length: int = 100,
    vocab_size: int = 20000,
    tokenizer: str | None = None,
    split_seed: int = 0,
) -> DatasetSplits:
    """IMDB reviews (``aclImdb/{train,test}/{neg,pos}/*.txt``); ``val_size`` reviews held out of train.

    Word-level vocabulary of ``vocab_size`` and sequences of ``max_length``, as bnn_hmc's
    CNN-LSTM setting (20,000 words, 100 tokens).
    """
    val, train = _held_out(*_imdb_split(data_dir, "train"), val_size, split_seed)
    return _tokenised(train, val, _imdb_split(data_dir, "test"), "word", vocab_size, max_length, tokenizer)


def locate_sst2(options: dict) -> None:
    """Raise ``MissingDataFileError`` unless GLUE's SST-2 files (and a given test file) are there."""
    _sst2_file(options["data_dir"], "train.tsv")
    _sst2_file(options["data_dir"], "dev.tsv")
    if options["test_file"] is not None:
        data_file(options["data_dir"], [options["test_file"]], "sst2", "a labelled TSV of your own")


def locate_imdb(options: dict) -> None:
    """Raise ``MissingDataFileError`` unless the four aclImdb review folders are there."""
    for split in ("train", "test"):
        for polarity in ("neg", "pos"):
            data_file(options["data_dir"], [f"aclImdb/{split}/{polarity}"], "imdb", IMDB_SOURCE)


def _prepare(name: str, kind: TokenizerKind, training_texts, options: dict, folder: Location) -> dict:
    if options["tokenizer"] is not None:
        return options
    path = folder / f"{name}-{kind}-{options['vocab_size']}.json"
    if not path.is_file():
        save_tokenizer(train_tokenizer(training_texts(), kind, options["vocab_size"]), path)
    return {**options, "tokenizer": str(path)}


def prepare_sst2(options: dict, folder: Location) -> dict:
    """Train the WordPiece tokenizer once, save it in ``folder`` and point the options at it."""
    return _prepare(
        "sst2",
        "wordpiece",
        lambda: _read_tsv(_sst2_file(options["data_dir"], "train.tsv"))[0],
        options,
        folder,
    )


def prepare_imdb(options: dict, folder: Location) -> dict:
    """Train the word-level tokenizer once (on the training reviews left after the validation split)."""

    def texts() -> list[str]:
        _, train = _held_out(
            *_imdb_split(options["data_dir"], "train"), options["val_size"], options["split_seed"]
        )
        return train[0]

    return _prepare("imdb", "word", texts, options, folder)
