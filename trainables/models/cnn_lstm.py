"""The CNN-LSTM text classifier of bnn_hmc's IMDB experiments (after Keras' ``imdb_cnn_lstm`` example)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bdlsweep.trainables.models.option_types import Size


class CNNLSTM(nn.Module):
    """Embedding → Conv1d + ReLU → max-pool → LSTM (last state) → linear ``head``."""

    def __init__(
        self,
        input_shape: Sequence[int],
        num_outputs: int,
        vocab_size: int,
        embedding_dim: Size = 128,
        channels: Size = 64,
        kernel_size: Size = 5,
        pool_size: Size = 4,
        hidden_size: Size = 70,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.conv = nn.Conv1d(embedding_dim, channels, kernel_size)
        self.pool = nn.MaxPool1d(pool_size)
        self.lstm = nn.LSTM(channels, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, num_outputs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The LSTM's final hidden state ``[N, hidden_size]``."""
        sequence = self.pool(torch.relu(self.conv(self.embedding(x).transpose(1, 2))))
        _, (hidden, _) = self.lstm(sequence.transpose(1, 2))
        return hidden[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
