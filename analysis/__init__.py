"""Analysis: metrics (pure functions), stored results as pandas, the papers' tables."""
