"""What a sweep costs, counted before it runs: trials, passes over the data, sampled forward passes."""
