"""Evaluations: golden sets, rule checks and judges over a matrix of variants, with repeats."""
