"""Dispatches a launch config to its job, after configuring JAX once."""

import ml_collections

from apb2face_jax import runtime
from apb2face_jax.errors import UserError


def run(config: ml_collections.ConfigDict, workdir: str | None) -> dict[str, float]:
  """Runs `config.job` in `workdir` and returns what the job reports."""
  job = config.get("job")
  if job not in ("predictor",):
    raise UserError(f"config.job={job!r} is not a job this version runs: use configs/predictor.py.")
  if not workdir:
    raise UserError("--workdir is required for training: give a directory for checkpoints and logs.")
  runtime.configure(config.get("compilation_cache_dir"))
  from apb2face_jax import trainer  # pylint: disable=g-import-not-at-top  (JAX after runtime.configure)
  from apb2face_jax.predictor_train import PredictorTask  # pylint: disable=g-import-not-at-top

  return trainer.train_and_evaluate(config, workdir, PredictorTask)
