"""The train state both GANs share: generator and discriminator, each with Adam."""

from typing import Any

import jax
import optax
from flax import struct


class GanState(struct.PyTreeNode):
  """Parameters and optimiser states of a generator G and a discriminator D.

  `g_vars` holds G's non-trainable collections (e.g. `batch_stats` of the
  pix2pix U-Net); it is empty for the networks that have none.
  """
  step: jax.Array
  g_params: Any
  d_params: Any
  g_opt_state: Any
  d_opt_state: Any
  g_vars: Any
  g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
  d_tx: optax.GradientTransformation = struct.field(pytree_node=False)

  @classmethod
  def create(cls, g_params: Any, d_params: Any, g_tx: optax.GradientTransformation,
             d_tx: optax.GradientTransformation, g_vars: Any = None) -> "GanState":
    return cls(step=jax.numpy.zeros((), jax.numpy.int32), g_params=g_params, d_params=d_params,
               g_opt_state=g_tx.init(g_params), d_opt_state=d_tx.init(d_params), g_vars=g_vars or {},
               g_tx=g_tx, d_tx=d_tx)

  def update_g(self, grads: Any, g_vars: Any = None) -> "GanState":
    updates, opt_state = self.g_tx.update(grads, self.g_opt_state, self.g_params)
    return self.replace(g_params=optax.apply_updates(self.g_params, updates), g_opt_state=opt_state,
                        g_vars=self.g_vars if g_vars is None else g_vars)

  def update_d(self, grads: Any) -> "GanState":
    updates, opt_state = self.d_tx.update(grads, self.d_opt_state, self.d_params)
    return self.replace(d_params=optax.apply_updates(self.d_params, updates), d_opt_state=opt_state)

