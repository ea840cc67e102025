"""Parallelism applied from outside the model (cross-replica BatchNorm)."""
