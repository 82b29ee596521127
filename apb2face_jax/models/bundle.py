"""The two networks as training and inference both use them: built from settings, applied, drawn.

A model is made from its `settings` (the config fields that shape it), so a
checkpoint that stores them (`record`) is enough to rebuild the network for
inference, without the training config, its optimisers or its dataset.
`shape_meta` is what a checkpoint must match to be restored into the model.
"""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp

from apb2face_jax.data.layout import CROP_SIZE, NUM_POINTS
from apb2face_jax.models import drawing
from apb2face_jax.models.predictor import GeometryPredictor, LandmarkDiscriminator
from apb2face_jax.models.reenactor import PatchDiscriminator, generator_settings, make_generator

MFCC_WINDOW_SHAPE = (64, 60)  # MFCC rows x (20 coefficients + two deltas): docs/paper_and_code.md §1


def _pick(settings: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
  missing = [n for n in names if n not in settings]
  if missing:
    raise KeyError(f"model settings lack {missing}")
  plain = lambda v: v.to_dict() if hasattr(v, "to_dict") else dict(v) if isinstance(v, Mapping) else v  # noqa: E731
  return {n: plain(settings[n]) for n in names}


class PredictorModel:
  """GeometryPredictor (G) and landmark discriminator (D_L)."""
  job = "predictor"
  best_metric = "l1_px"  # the test metric that ranks checkpoints (lower is better)
  SETTINGS = ("dtype",)

  def __init__(self, settings: Mapping[str, Any]):
    self.settings = _pick(settings, self.SETTINGS)
    dtype = jnp.dtype(self.settings["dtype"])
    self.generator = GeometryPredictor(dtype=dtype)
    self.discriminator = LandmarkDiscriminator(dtype=dtype)

  def shape_meta(self) -> dict[str, Any]:
    return {"job": self.job, "num_points": NUM_POINTS}

  def init_generator(self, rng: jax.Array) -> Any:
    return self.generator.init(rng, jnp.zeros((1, *MFCC_WINDOW_SHAPE)), jnp.zeros((1, 3)), jnp.zeros((1, 2)))["params"]

  def init_discriminator(self, rng: jax.Array) -> Any:
    flat = jnp.zeros((1, 2 * NUM_POINTS))
    return self.discriminator.init(rng, flat, flat)["params"]

  def predict(self, g_params: Any, batch: Mapping[str, jax.Array]) -> jax.Array:
    """Batch with mfcc (B, 64, 60), pose (B, 3), blink (B, 2) -> landmarks (B, 212) in crop pixels."""
    out = self.generator.apply({"params": g_params}, batch["mfcc"], batch["pose"], batch["blink"])
    return out.astype(jnp.float32)


class ReenactorModel:
  """FaceReenactor generator (G) and PatchGAN discriminator (D), at `image_size`."""
  job = "reenactor"
  best_metric = "l1"
  SETTINGS = ("generator", "ngf", "ndf", "dropout_rate", "dtype", "generator_kwargs", "image_size",
              "landmark_radius")

  def __init__(self, settings: Mapping[str, Any]):
    self.settings = s = _pick(settings, self.SETTINGS)
    s["generator_kwargs"] = generator_settings(s["generator"], s["generator_kwargs"])
    self.size = int(s["image_size"])
    dtype = jnp.dtype(s["dtype"])
    self.generator = make_generator(s["generator"], ngf=s["ngf"], dropout_rate=s["dropout_rate"], dtype=dtype,
                                    **s["generator_kwargs"])
    self.discriminator = PatchDiscriminator(ndf=s["ndf"], dtype=dtype)

  def shape_meta(self) -> dict[str, Any]:
    s = self.settings
    return {"job": self.job, "num_points": NUM_POINTS, "generator": s["generator"], "ngf": s["ngf"],
            "image_size": s["image_size"], "generator_kwargs": s["generator_kwargs"]}

  def init_generator(self, rng: jax.Array) -> tuple[Any, dict[str, Any]]:
    """(parameters, other variables such as batch statistics)."""
    variables = dict(self.generator.init({"params": rng}, jnp.zeros((1, self.size, self.size, 3)), train=False))
    return variables.pop("params"), variables

  def init_discriminator(self, rng: jax.Array) -> Any:
    return self.discriminator.init(rng, jnp.zeros((1, self.size, self.size, 6)))["params"]

  def landmark_image(self, landmarks: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Landmarks (B, 106, 2) in stored-crop pixels -> (landmark image, landmarks) at `image_size`."""
    landmarks = landmarks * (self.size / CROP_SIZE)
    return drawing.rasterise_landmarks(landmarks, self.size, self.settings["landmark_radius"]), landmarks

  def generate(self, g_params: Any, g_vars: Any, drawn: jax.Array, rng: jax.Array | None) -> tuple[jax.Array, Any]:
    """(face in [-1, 1], updated g_vars); dropout on and batch statistics updated iff `rng` is given."""
    train = rng is not None
    variables = {"params": g_params, **g_vars}
    if train and g_vars:
      fake, new_vars = self.generator.apply(variables, drawn, train=True, rngs={"dropout": rng}, mutable=list(g_vars))
      return fake.astype(jnp.float32), new_vars
    fake = self.generator.apply(variables, drawn, train=train, rngs={"dropout": rng} if train else None)
    return fake.astype(jnp.float32), g_vars


MODELS = {m.job: m for m in (PredictorModel, ReenactorModel)}
