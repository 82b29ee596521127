"""FaceReenactor training: landmark image -> face, pix2pix-style (docs/paper_and_code.md §4).

Each step: G draws the face from the landmark image (rasterised on the device
by `drawing.rasterise_landmarks`, the same drawing generation uses); D (a
PatchGAN conditioned on a reference photo of the same person) is updated first
on (reference, real) vs (reference, fake); then G, against the updated D, with
BCE + 100 * L1 + `mask_weight` * L1 inside the dilated face polygon (the
paper's mask loss; 0 gives the official code). G's forward runs once: its
vector-Jacobian product carries the G loss back after the D update.
"""

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from apb2face_jax.data import splits
from apb2face_jax.models import drawing
from apb2face_jax.train.gan_state import GanState
from apb2face_jax.models.bundle import ReenactorModel
from apb2face_jax.data.images import to_uint8
from apb2face_jax.train.summary import grid
from apb2face_jax.metrics.sums import metric_sums


def make_optimizer(config: ml_collections.ConfigDict, steps_per_epoch: int) -> optax.GradientTransformation:
  """Adam; constant lr for `epochs_constant`, then linear decay to 0 over `epochs_decay`."""
  constant = config.epochs_constant * steps_per_epoch
  schedule = optax.join_schedules(
      [optax.constant_schedule(config.learning_rate),
       optax.linear_schedule(config.learning_rate, 0.0, max(1, config.epochs_decay * steps_per_epoch))],
      [constant])
  return optax.adam(schedule, b1=config.adam_b1, b2=config.adam_b2)


def bce_with_logits(logits: jax.Array, target: float) -> jax.Array:
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.full_like(logits, target)))


def face_region_l1(fake: jax.Array, real: jax.Array, landmarks: jax.Array) -> jax.Array:
  """Per-example L1 inside the (dilated) face mask of `landmarks`: (B,)."""
  mask = drawing.face_mask(landmarks, fake.shape[1])
  return jnp.sum(jnp.abs(fake - real) * mask, axis=(1, 2, 3)) / (3 * jnp.maximum(jnp.sum(mask, axis=(1, 2, 3)), 1.0))


def nearest_training_frames(train: splits.Split, test: splits.Split,
                            indices: np.ndarray) -> np.ndarray:
  """For each test example, the training frame of its identity with the nearest landmarks.

  Nearest by mean point distance; among all training frames when its identity has none.
  Memory grows with one identity's frames, not with test x train.
  """
  pools = dict(zip(train.identity_names, train.same_identity_pools))
  everything = np.arange(len(train))
  nearest = []
  for i in indices:
    pool = pools.get(test.identity_names[test.identity[i]], everything)
    distance = np.linalg.norm(train.columns["landmarks"][pool] - test.columns["landmarks"][i], axis=-1).mean(-1)
    nearest.append(pool[distance.argmin()])
  return np.asarray(nearest)


class ReenactorTask:
  """The `trainer.Task` of the FaceReenactor (one identity, or every identity in the data)."""
  name = "reenactor"
  features = ("image", "landmarks")
  reference_features = ("image",)
  best_metric = ReenactorModel.best_metric

  def __init__(self, config: ml_collections.ConfigDict, steps_per_epoch: int):
    self.config = config
    self.model = ReenactorModel(config)
    self.size = self.model.size
    self.tx = make_optimizer(config, steps_per_epoch)
    self._render = jax.jit(self.render)

  def meta(self) -> dict[str, Any]:
    return self.model.shape_meta()

  def create_state(self, rng: jax.Array) -> GanState:
    g_rng, d_rng = jax.random.split(rng)
    g_params, g_vars = self.model.init_generator(g_rng)
    return GanState.create(g_params, self.model.init_discriminator(d_rng), self.tx, self.tx, g_vars=g_vars)

  def inputs(self, batch: dict) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(landmark image, real face, reference face, landmarks) at `image_size`."""
    drawn, landmarks = self.model.landmark_image(batch["landmarks"])
    return drawn, drawing.resize_faces(batch["image"], self.size), drawing.resize_faces(batch["ref_image"], self.size), \
        landmarks

  def judge(self, d_params: Any, reference: jax.Array, face: jax.Array) -> jax.Array:
    pair = jnp.concatenate([reference, face], axis=-1)
    return self.model.discriminator.apply({"params": d_params}, pair).astype(jnp.float32)

  def train_step(self, state: GanState, batch: dict, rng: jax.Array) -> tuple[GanState, dict]:
    c = self.config
    drawn, real, ref, landmarks = self.inputs(batch)
    (fake, g_vars), g_vjp = jax.vjp(lambda p: self.model.generate(p, state.g_vars, drawn, rng), state.g_params)
    fixed_fake = jax.lax.stop_gradient(fake)

    def d_loss(d_params):
      return 0.5 * (bce_with_logits(self.judge(d_params, ref, fixed_fake), 0.0)
                    + bce_with_logits(self.judge(d_params, ref, real), 1.0))

    loss_d, d_grads = jax.value_and_grad(d_loss)(state.d_params)
    state = state.update_d(d_grads)
    mask = drawing.face_mask(landmarks, self.size) if c.mask_weight else None

    def g_loss(face):
      adv = bce_with_logits(self.judge(state.d_params, ref, face), 1.0)
      l1 = jnp.mean(jnp.abs(face - real))
      mask_l1 = jnp.mean(jnp.abs(face - real) * mask) if mask is not None else 0.0
      return c.gan_weight * adv + c.l1_weight * l1 + c.mask_weight * mask_l1, (adv, l1, mask_l1)

    (loss_g, (adv, l1, mask_l1)), fake_grad = jax.value_and_grad(g_loss, has_aux=True)(fake)
    (g_grads,) = g_vjp((fake_grad, jax.tree.map(jnp.zeros_like, g_vars)))
    state = state.update_g(g_grads, g_vars)
    metrics = {"loss_g": loss_g, "loss_d": loss_d, "adv_g": adv, "l1": l1, "mask_l1": mask_l1}
    return state.replace(step=state.step + 1), metrics

  def render(self, state: GanState, batch: dict) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(landmark image, generated face, real face) at `image_size`, dropout off."""
    drawn, real, _, _ = self.inputs(batch)
    fake, _ = self.model.generate(state.g_params, state.g_vars, drawn, None)
    return drawn, fake, real

  def eval_step(self, state: GanState, batch: dict) -> dict[str, jax.Array]:
    _, fake, real = self.render(state, batch)
    _, landmarks = self.model.landmark_image(batch["landmarks"])
    return {"l1": metric_sums(jnp.mean(jnp.abs(fake - real), axis=(1, 2, 3)), batch["weight"]),
            "face_l1": metric_sums(face_region_l1(fake, real, landmarks), batch["weight"])}

  def baselines(self, train: splits.Split, test: splits.Split) -> dict[str, float]:
    """Test L1 (in [-1, 1] units, at `image_size`; whole image and face region) of two non-learned answers.

    `mean_face`: the mean training image. `nearest_frame`: the training frame of the same
    identity whose landmarks are nearest (mean point distance), i.e. what a generator that
    memorised every training frame and picked the closest would give: a floor for
    interpolating between training frames, not a bound on what generalises. Both are
    estimated on at most `config.baseline_frames` evenly spaced frames of each split (the
    nearest frame is searched among all training frames), so start-up stays short at AnnVI's size.
    """
    cap = self.config.baseline_frames
    evenly = lambda n: np.unique(np.linspace(0, n - 1, min(n, cap)).astype(np.int64))  # noqa: E731
    resize = jax.jit(lambda x: drawing.resize_faces(x, self.size))
    chunks = lambda rows: (rows[s:s + 64] for s in range(0, len(rows), 64))  # noqa: E731
    train_rows, test_rows = evenly(len(train)), evenly(len(test))
    mean = sum(np.asarray(resize(splits.decode_images(train, i))).sum(0)
               for i in chunks(train_rows)) / len(train_rows)
    face_l1 = jax.jit(face_region_l1)
    sums = dict.fromkeys(("mean_face_l1", "mean_face_face_l1", "nearest_frame_l1", "nearest_frame_face_l1"), 0.0)
    for i in chunks(test_rows):
      real = resize(splits.decode_images(test, i))
      landmarks = self.model.landmark_image(jnp.asarray(test.columns["landmarks"][i]))[1]
      nearest_face = resize(splits.decode_images(train, nearest_training_frames(train, test, i)))
      for name, guess in (("mean_face", jnp.broadcast_to(mean, real.shape)), ("nearest_frame", nearest_face)):
        sums[f"{name}_l1"] += float(jnp.abs(real - guess).mean((1, 2, 3)).sum())
        sums[f"{name}_face_l1"] += float(face_l1(guess, real, landmarks).sum())
    return {k: v / len(test_rows) for k, v in sums.items()}

  def picture(self, state: GanState, batch: dict) -> np.ndarray:
    """Rows: landmark image | generated | real, for up to 8 test frames."""
    batch = {k: v[:8] for k, v in batch.items() if k in ("image", "landmarks", "ref_image")}
    return grid([to_uint8(x) for x in jax.device_get(self._render(state, batch))])
