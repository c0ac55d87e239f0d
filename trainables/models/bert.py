"""A randomly initialised BERT encoder (``transformers.BertConfig``) plus a linear ``head``: bert-256-4."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.option_types import Probability, Size


class BertClassifier(nn.Module):
    """BERT over token ids (0 = padding, masked out); ``features``: the pooled ``[CLS]`` output, dropped out.

    Defaults are Jordahn et al. (2025)'s SST-2 model: hidden 256, 4 layers, 8 heads, intermediate 2048,
    hidden and attention dropout 0.5; never pretrained, so nothing is fetched from a hub.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        vocab_size: int,
        hidden_size: Size = 256,
        num_layers: Size = 4,
        num_heads: Size = 8,
        intermediate_size: Size = 2048,
        dropout: Probability = 0.5,
    ) -> None:
        from transformers import BertConfig, BertModel  # here: only BERT sweeps import transformers

        super().__init__()
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            intermediate_size=intermediate_size,
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            max_position_embeddings=max(512, int(input_shape[0])),
            pad_token_id=0,
        )
        self.encoder = BertModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled output (tanh of a linear map of the ``[CLS]`` state), after dropout."""
        output = self.encoder(input_ids=x, attention_mask=(x != 0).long())
        return self.dropout(output.pooler_output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
