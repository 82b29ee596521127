"""Trained networks as jitted functions: load a training workdir, predict, render.

  from apb2face_jax import inference
  predict = inference.load_predictor("/tmp/run_pred")
  landmarks = predict(mfcc, pose, blink)        # (B, 64, 60), (B, 3), (B, 2) -> (B, 106, 2)
  render = inference.load_reenactor("/tmp/run_reen")
  faces = render(landmark_images)               # (B, H, W, 3) in [-1, 1] -> same, dropout off

Each loader reads `<workdir>/config.json` (written by the training run),
rebuilds that run's Task from it and restores a checkpoint through
`checkpoint.Checkpoints`, whose meta check refuses a checkpoint of the other
network, of another landmark count or of another image size.
"""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from apb2face_jax.train import checkpoint as checkpoint_lib
from apb2face_jax.errors import UserError
from apb2face_jax.models.predictor import to_points
from apb2face_jax.train.trainer import CONFIG_FILE

# Frames per chunk of batched predictor inference on CPU: the activations of 16 frames stay in
# cache (the first convolution writes 0.55 MB a frame). bench/compare_official.py, 2 AMD EPYC vCPUs,
# 256 frames: 437-470 ms in one piece, 371-407 ms in chunks of 16 (8: 376-420). Training and
# accelerators keep whole batches (a scan of the gradient was 15-30x slower on CPU).
CPU_PREDICTOR_CHUNK = 16


def map_in_chunks(fn: Callable[[dict[str, jax.Array]], jax.Array], arrays: dict[str, jax.Array],
                  chunk: int) -> jax.Array:
  """`fn(arrays)` computed `chunk` rows at a time (lax.map; the tail padded, then dropped)."""
  rows = next(iter(arrays.values())).shape[0]
  if chunk <= 0 or rows <= chunk:
    return fn(arrays)
  pieces = -(-rows // chunk)
  padded = {k: jnp.pad(v, [(0, pieces * chunk - rows)] + [(0, 0)] * (v.ndim - 1)) for k, v in arrays.items()}
  out = jax.lax.map(fn, {k: v.reshape(pieces, chunk, *v.shape[1:]) for k, v in padded.items()})
  return out.reshape(pieces * chunk, *out.shape[2:])[:rows]


def inference_predict(task: Any) -> Callable[[Any, dict[str, jax.Array]], jax.Array]:
  """`task.predict(g_params, batch)` as inference runs it: in CPU_PREDICTOR_CHUNK-frame chunks on CPU."""
  chunk = CPU_PREDICTOR_CHUNK if jax.default_backend() == "cpu" else 0
  return lambda params, batch: map_in_chunks(functools.partial(task.predict, params), batch, chunk)


def read_config(workdir: str | Path, job: str) -> ml_collections.ConfigDict:
  """The config a training run in `workdir` wrote; refuses a run of another job."""
  path = Path(workdir) / CONFIG_FILE
  if not Path(workdir).is_dir():
    raise UserError(f"{job} workdir {workdir} does not exist: pass the --workdir of a {job} training run.")
  if not path.is_file():
    raise UserError(f"{workdir} holds no {CONFIG_FILE}: it is not the workdir of a training run "
                    f"(launch.py writes it); pass the --workdir of a {job} training run.")
  try:
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
  except (json.JSONDecodeError, TypeError, ValueError) as e:
    raise UserError(f"{path} is not a valid run config ({e}): restore it from the run, or retrain.") from None
  if config.get("job") != job:
    raise UserError(f"{workdir} holds a {config.get('job')!r} run, not a {job}: pass it as the "
                    f"{config.get('job')} workdir, and a {job} run's workdir here.")
  return config


def restore_state(workdir: str | Path, task: Any, checkpoint: str | int = "latest") -> tuple[Any, int]:
  """(train state, step) of `workdir`'s latest / best / numbered checkpoint, on the first device."""
  ckpts = checkpoint_lib.Checkpoints(workdir, task.meta(), best_metric="test/" + task.best_metric,
                                     async_save=False)
  try:
    if checkpoint == "latest":
      step = ckpts.latest_step()
    elif checkpoint == "best":
      step = ckpts.best_step()
      if step is None and ckpts.latest_step() is not None:
        raise UserError(f"{workdir} records no best checkpoint (no test metric saved): use checkpoint='latest'.")
    else:
      try:
        step = int(checkpoint)
      except ValueError:
        raise UserError(f"checkpoint={checkpoint!r} is not valid: use 'latest', 'best' or a step number.") from None
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    template = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),
                            jax.eval_shape(task.create_state, jax.random.key(0)))
    state = ckpts.restore(template, step)
  finally:
    ckpts.close()
  return state, int(state.step)


class Predictor:
  """A restored GeometryPredictor: `predictor(mfcc, pose, blink) -> landmarks (B, 106, 2)` in 256-crop pixels."""

  def __init__(self, workdir: str | Path, checkpoint: str | int = "latest"):
    from apb2face_jax.train.predictor_task import PredictorTask  # pylint: disable=g-import-not-at-top

    self.workdir = Path(workdir)
    self.config = read_config(workdir, "predictor")
    self.task = PredictorTask(self.config, train=None, steps_per_epoch=1)
    state, self.step = restore_state(workdir, self.task, checkpoint)
    self.params = state.g_params
    self._predict = inference_predict(self.task)
    self._jitted = jax.jit(self.apply)

  def apply(self, params: Any, mfcc: jax.Array, pose: jax.Array, blink: jax.Array) -> jax.Array:
    """The traceable forward pass (for fusing into larger jitted functions)."""
    return to_points(self._predict(params, {"mfcc": mfcc, "pose": pose, "blink": blink}))

  def __call__(self, mfcc: Any, pose: Any, blink: Any) -> jax.Array:
    return self._jitted(self.params, *(jnp.asarray(x, jnp.float32) for x in (mfcc, pose, blink)))

  @property
  def mfcc_mode(self) -> str:
    """The MFCC delta mode of the dataset the predictor was trained on ('compat' if unknown)."""
    import tfds_annvi  # pylint: disable=g-import-not-at-top

    builder_config = tfds_annvi.Builder.builder_configs.get(self.config.get("dataset"))
    return builder_config.mfcc_mode if builder_config is not None else "compat"


class Reenactor:
  """A restored FaceReenactor: `reenactor(landmark_images) -> faces`, both (B, H, W, 3) in [-1, 1]."""

  def __init__(self, workdir: str | Path, checkpoint: str | int = "latest"):
    from apb2face_jax.train.reenactor_task import ReenactorTask  # pylint: disable=g-import-not-at-top

    self.workdir = Path(workdir)
    self.config = read_config(workdir, "reenactor")
    self.task = ReenactorTask(self.config, train=None, steps_per_epoch=1)
    state, self.step = restore_state(workdir, self.task, checkpoint)
    self.params, self.variables = state.g_params, state.g_vars
    self.image_size = int(self.config.image_size)
    self._jitted = jax.jit(self.apply)

  def draw(self, landmarks: jax.Array) -> jax.Array:
    """Landmarks (B, 106, 2) in 256-crop pixels -> the landmark image this reenactor was trained on."""
    return self.task.landmark_image(landmarks)[0]

  def apply(self, params: Any, variables: Any, landmark_images: jax.Array) -> jax.Array:
    """The traceable forward pass, dropout off."""
    return self.task.generate(params, variables, landmark_images, None)[0]

  def __call__(self, landmark_images: Any) -> jax.Array:
    images = jnp.asarray(landmark_images, jnp.float32)
    if images.shape[1:] != (self.image_size, self.image_size, 3):
      raise UserError(f"landmark images of shape {tuple(images.shape[1:])} given to a reenactor trained at "
                      f"{self.image_size}x{self.image_size}: pass (B, {self.image_size}, {self.image_size}, 3).")
    return self._jitted(self.params, self.variables, images)


def load_predictor(workdir: str | Path, checkpoint: str | int = "latest") -> Predictor:
  """The predictor of a training workdir; `checkpoint`: 'latest', 'best' or a step."""
  return Predictor(workdir, checkpoint)


def load_reenactor(workdir: str | Path, checkpoint: str | int = "latest") -> Reenactor:
  """The reenactor of a training workdir; `checkpoint`: 'latest', 'best' or a step."""
  return Reenactor(workdir, checkpoint)

