"""Inference maths with no Ray and no I/O: likelihoods, samplers, kernels, flows, subspaces, energies."""
