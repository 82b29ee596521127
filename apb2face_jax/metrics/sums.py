"""Evaluation metrics summed over batches: (sum, count) pairs that add up across devices and hosts."""

import jax
import jax.numpy as jnp


def metric_sums(per_example: jax.Array, weight: jax.Array) -> jax.Array:
  """(sum, count) of a per-example metric, padding excluded (for `eval_step`)."""
  return jnp.stack([jnp.sum(per_example * weight), jnp.sum(weight)])
