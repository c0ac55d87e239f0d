"""Tokenizers trained locally with Hugging Face ``tokenizers`` (never fetched from a hub), and encoding.

``wordpiece``: BERT-style lower-cased WordPiece with ``[CLS] … [SEP]`` (SST-2 / BERT).
``word``: lower-cased word-level vocabulary with Keras-style left padding and truncation, as the
bnn_hmc IMDB pipeline (``pad_sequences`` defaults). Padding is always id 0 (``[PAD]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from bdlsweep.storage.locations import Location

TokenizerKind = Literal["wordpiece", "word"]
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"


def train_tokenizer(texts: Sequence[str], kind: TokenizerKind, vocab_size: int) -> Tokenizer:
    """A tokenizer of ``kind`` with at most ``vocab_size`` entries, trained on ``texts`` (deterministic)."""
    if kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        special = [PAD, UNK, CLS, SEP, MASK]
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=special, show_progress=False
        )
        tokenizer.train_from_iterator(texts, trainer)
        tokenizer.post_processor = processors.BertProcessing(
            (SEP, tokenizer.token_to_id(SEP)), (CLS, tokenizer.token_to_id(CLS))
        )
        return tokenizer
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Replace("<br />", " "), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, location: str | Path | Location) -> Location:
    """Write the tokenizer's JSON atomically to a local path or a URI (any node of a cluster reads it)."""
    return Location.parse(location).write_text(tokenizer.to_str())


def load_tokenizer(location: str | Path | Location) -> Tokenizer:
    """A tokenizer saved by ``save_tokenizer`` (or any ``tokenizers`` JSON file), from a path or a URI."""
    return Tokenizer.from_str(Location.parse(location).read_text())


def encode(
    tokenizer: Tokenizer, splits: Sequence[Sequence[str]], kind: TokenizerKind, max_length: int
) -> list[torch.Tensor]:
    """Token ids ``[N, L]`` of each split, padded with 0 to one L (the longest, at most ``max_length``)."""
    side = "left" if kind == "word" else "right"
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, direction=side)
    encoded = [[item.ids for item in tokenizer.encode_batch(list(texts))] for texts in splits]
    length = max((len(ids) for split in encoded for ids in split), default=1)
    tensors = []
    for split in encoded:
        tensor = torch.zeros(len(split), length, dtype=torch.int64)
        for row, ids in enumerate(split):
            if ids:
                target = slice(length - len(ids), length) if side == "left" else slice(0, len(ids))
                tensor[row, target] = torch.tensor(ids, dtype=torch.int64)
        tensors.append(tensor)
    return tensors
