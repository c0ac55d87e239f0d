"""Dropout rates for MC dropout; the seed paper selects per seed among the rates it trained."""

MC_DROPOUT_RATES = [0.05, 0.1, 0.2, 0.3, 0.5]

DIGITS_DROPOUT_RATES = [0.1, 0.25]
