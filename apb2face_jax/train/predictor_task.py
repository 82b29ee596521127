"""GeometryPredictor training: L1 + conditional least-squares landmark GAN (docs/paper_and_code.md §3).

Each step updates G first (100 * L1 + 0.1 * LSGAN), then D_L on the prediction
G made before its update (0.1 * 0.5 * [D(fake)^2 + (D(real) - 1)^2]), as the
official code does. Both use Adam; the learning rate drops x0.1 every
`lr_decay_epochs`.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from apb2face_jax.data import splits
from apb2face_jax.train.gan_state import GanState
from apb2face_jax.data.layout import NUM_POINTS
from apb2face_jax.models.bundle import PredictorModel
from apb2face_jax.models.predictor import to_points
from apb2face_jax.data.images import to_uint8
from apb2face_jax.train.summary import landmark_overlay
from apb2face_jax.metrics.sums import metric_sums


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.GradientTransformation:
  schedule = optax.exponential_decay(config.learning_rate, transition_steps=config.lr_decay_epochs * steps_per_epoch,
                                     decay_rate=config.lr_decay_factor, staircase=True)
  return optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2)


def flat(landmarks: jax.Array) -> jax.Array:
  return landmarks.reshape(landmarks.shape[0], 2 * NUM_POINTS)


class PredictorTask:
  """The `trainer.Task` of the GeometryPredictor."""
  name = "predictor"
  features = ("mfcc", "pose", "blink", "landmarks")
  reference_features = ("landmarks",)
  best_metric = PredictorModel.best_metric

  def __init__(self, config: ml_collections.ConfigDict, steps_per_epoch: int):
    self.config = config
    self.model = PredictorModel(config)
    self.tx = make_optimizer(config, steps_per_epoch)

  def meta(self) -> dict[str, Any]:
    return self.model.shape_meta()

  def create_state(self, rng: jax.Array) -> GanState:
    g_rng, d_rng = jax.random.split(rng)
    return GanState.create(self.model.init_generator(g_rng), self.model.init_discriminator(d_rng), self.tx, self.tx)

  def predict(self, g_params: Any, batch: dict) -> jax.Array:
    return self.model.predict(g_params, batch)

  def judge(self, d_params: Any, landmarks: jax.Array, reference: jax.Array) -> jax.Array:
    return self.model.discriminator.apply({"params": d_params}, landmarks, reference).astype(jnp.float32)

  def train_step(self, state: GanState, batch: dict, rng: jax.Array) -> tuple[GanState, dict]:
    del rng  # No dropout or noise in either network.
    c = self.config
    real, ref = flat(batch["landmarks"]), flat(batch["ref_landmarks"])

    def g_loss(g_params):
      fake = self.predict(g_params, batch)
      l1 = jnp.mean(jnp.abs(fake - real))
      adv = jnp.mean((self.judge(state.d_params, fake, ref) - 1.0) ** 2) if c.use_discriminator else 0.0
      return c.l1_weight * l1 + c.gan_weight * adv, (fake, l1, adv)

    (loss_g, (fake, l1, adv)), g_grads = jax.value_and_grad(g_loss, has_aux=True)(state.g_params)
    state = state.update_g(g_grads)
    metrics = {"loss_g": loss_g, "l1_px": l1, "adv_g": adv}
    if c.use_discriminator:
      fake = jax.lax.stop_gradient(fake)

      def d_loss(d_params):
        fake_term = jnp.mean(self.judge(d_params, fake, ref) ** 2)
        real_term = jnp.mean((self.judge(d_params, real, ref) - 1.0) ** 2)
        return c.d_weight * 0.5 * (fake_term + real_term)

      loss_d, d_grads = jax.value_and_grad(d_loss)(state.d_params)
      state = state.update_d(d_grads)
      metrics["loss_d"] = loss_d
    return state.replace(step=state.step + 1), metrics

  def eval_step(self, state: GanState, batch: dict) -> dict[str, jax.Array]:
    error = jnp.mean(jnp.abs(self.predict(state.g_params, batch) - flat(batch["landmarks"])), axis=-1)
    return {"l1_px": metric_sums(error, batch["weight"])}

  def baselines(self, train: splits.Split, test: splits.Split) -> dict[str, float]:
    """Test L1 of always predicting the mean training landmarks."""
    mean = train.columns["landmarks"].mean(axis=0)
    return {"mean_landmarks_l1_px": float(np.mean(np.abs(test.columns["landmarks"] - mean)))}

  def picture(self, state: GanState, batch: dict) -> np.ndarray:
    """Test faces with real (red) and predicted (green) landmarks, first 8."""
    batch = {k: v[:8] for k, v in batch.items()}
    predicted = np.asarray(to_points(self.predict(state.g_params, batch)))
    return np.concatenate(list(landmark_overlay(to_uint8(batch["image"]), batch["landmarks"], predicted)), axis=1)
