"""Trained networks as jitted functions, loaded from a training workdir's checkpoint alone.

  from apb2face_jax import inference
  predict = inference.load_predictor("/tmp/run_pred")
  landmarks = predict(mfcc, pose, blink)        # (B, 64, 60), (B, 3), (B, 2) -> (B, 106, 2)
  render = inference.load_reenactor("/tmp/run_reen")
  faces = render(landmark_images)               # (B, H, W, 3) in [-1, 1] -> same, dropout off

A checkpoint's meta names its network and holds its record (model settings,
the training data's frame rate, MFCC mode and pose/blink centre), so loading
rebuilds the network from `models.bundle` and restores the generator's (or
predictor's) parameters only: no optimiser, no discriminator, no dataset, no
training code. Importing this package applies the runtime settings
(`runtime.configure`: CPU flags before the backend starts, the compile cache).
"""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apb2face_jax import runtime

runtime.configure()

import jax  # noqa: E402  (after runtime.configure)
import jax.numpy as jnp  # noqa: E402

from apb2face_jax.data import splits  # noqa: E402
from apb2face_jax.errors import UserError  # noqa: E402
from apb2face_jax.models import bundle  # noqa: E402
from apb2face_jax.models.checkpoints import CONFIG_FILE, RECORD_KEY, Checkpoints, check_meta  # noqa: E402
from apb2face_jax.models.predictor import to_points  # noqa: E402

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


def _legacy_record(workdir: Path, job: str) -> dict[str, Any]:
  """The record of a checkpoint that predates records: model settings from the run's config.json."""
  path = workdir / CONFIG_FILE
  if not path.is_file():
    raise UserError(f"{workdir}'s checkpoint records no model settings and the workdir holds no {CONFIG_FILE}: "
                    "it cannot be rebuilt; retrain, or convert the official weights again.")
  try:
    config = json.loads(path.read_text())
    model = {k: config[k] for k in bundle.MODELS[job].SETTINGS}
  except (json.JSONDecodeError, TypeError, KeyError) as e:
    raise UserError(f"{path} is not a valid run config ({e}): restore it from the run, or retrain.") from None
  print(f"note: {workdir} predates checkpoint records: its frame rate, MFCC mode and pose/blink centre are "
        "unknown, so generation uses 29.97 fps, 'compat' MFCCs and a frontal pose (retrain to record them).",
        flush=True)
  return {"model": model, "data": {**splits.UNKNOWN_DATA, "mfcc_mode": "compat", "dataset": config.get("dataset"),
                                   "data_dir": config.get("data_dir"), "manual_dir": config.get("manual_dir")}}


def restore(workdir: str | Path, job: str, checkpoint: str | int, keys: tuple[str, ...]
            ) -> tuple[Any, dict[str, Any], dict[str, Any], int]:
  """(model, record, the state's `keys`, step) of `workdir`'s latest / best / numbered checkpoint."""
  workdir = Path(workdir)
  if not workdir.is_dir():
    raise UserError(f"{job} workdir {workdir} does not exist: pass the --workdir of a {job} training run.")
  model_class = bundle.MODELS[job]
  ckpts = Checkpoints(workdir, {"job": job}, best_metric="test/" + model_class.best_metric, async_save=False,
                      create=False)
  try:
    step = ckpts.step_of(checkpoint)
    meta = ckpts.read_meta(step)
    if meta.get("job") != job:
      raise UserError(f"{workdir} holds a {meta.get('job')!r} run, not a {job}: pass it as the "
                      f"{meta.get('job')} workdir, and a {job} run's workdir here.")
    record = meta.get(RECORD_KEY) or _legacy_record(workdir, job)
    model = model_class(record["model"])
    check_meta(meta, model.shape_meta(), f"{ckpts.directory} (step {step})")
    parts = ckpts.restore_parts(step, keys)
  finally:
    ckpts.close()
  return model, record, parts, step


class Predictor:
  """A restored GeometryPredictor: `predictor(mfcc, pose, blink) -> landmarks (B, 106, 2)` in 256-crop pixels."""

  def __init__(self, workdir: str | Path, checkpoint: str | int = "latest"):
    self.workdir = Path(workdir)
    self.model, self.record, parts, self.step = restore(workdir, "predictor", checkpoint, ("g_params",))
    self.params = parts["g_params"]
    chunk = CPU_PREDICTOR_CHUNK if jax.default_backend() == "cpu" else 0
    self._predict = lambda params, batch: map_in_chunks(functools.partial(self.model.predict, params), batch, chunk)
    self._jitted = jax.jit(self.apply)

  def apply(self, params: Any, mfcc: jax.Array, pose: jax.Array, blink: jax.Array) -> jax.Array:
    """The traceable forward pass (for fusing into larger jitted functions)."""
    return to_points(self._predict(params, {"mfcc": mfcc, "pose": pose, "blink": blink}))

  def __call__(self, mfcc: Any, pose: Any, blink: Any) -> jax.Array:
    return self._jitted(self.params, *(jnp.asarray(x, jnp.float32) for x in (mfcc, pose, blink)))

  @property
  def data(self) -> dict[str, Any]:
    """What the checkpoint records of the training data: dataset, data_dir, fps, mfcc_mode, centre."""
    return self.record["data"]

  @property
  def mfcc_mode(self) -> str:
    """The MFCC delta mode of the dataset the predictor was trained on."""
    return self.data["mfcc_mode"] or "compat"


class Reenactor:
  """A restored FaceReenactor: `reenactor(landmark_images) -> faces`, both (B, H, W, 3) in [-1, 1]."""

  def __init__(self, workdir: str | Path, checkpoint: str | int = "latest"):
    self.workdir = Path(workdir)
    self.model, self.record, parts, self.step = restore(workdir, "reenactor", checkpoint, ("g_params", "g_vars"))
    self.params, self.variables = parts["g_params"], parts["g_vars"]
    self.image_size = self.model.size
    self._jitted = jax.jit(self.apply)

  @property
  def data(self) -> dict[str, Any]:
    """What the checkpoint records of the training data (dataset, folders, fps, ...)."""
    return self.record["data"]

  def draw(self, landmarks: jax.Array) -> jax.Array:
    """Landmarks (B, 106, 2) in 256-crop pixels -> the landmark image this reenactor was trained on."""
    return self.model.landmark_image(landmarks)[0]

  def apply(self, params: Any, variables: Any, landmark_images: jax.Array) -> jax.Array:
    """The traceable forward pass, dropout off."""
    return self.model.generate(params, variables, landmark_images, None)[0]

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
