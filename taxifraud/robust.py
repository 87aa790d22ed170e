"""Robust spread shared by the model's route table and the demo's traffic profile, so both read a zone pair's
variation the same way."""

#: Median absolute deviation -> standard deviation of a normal distribution.
ROBUST_SIGMA = 1.4826
