"""Dispatches a launch config to its job, after checking it and configuring JAX."""

import os
from typing import Any

import ml_collections
from absl import logging

from apb2face_jax import runtime
from apb2face_jax.errors import UserError

# Fields a training config must hold, and what a valid value is.
_TRAINING_CHECKS: dict[str, tuple[Any, str]] = {
    "batch_size": (lambda v: v > 0, "a positive integer"),
    "learning_rate": (lambda v: v > 0, "positive"),
    "adam_b1": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "adam_b2": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "num_epochs": (lambda v: v > 0, "a positive integer"),
    "lr_decay_epochs": (lambda v: v > 0, "a positive integer"),
    "dtype": (lambda v: v in ("float32", "bfloat16"), "'float32' or 'bfloat16'"),
    "keep_checkpoints": (lambda v: v > 0, "a positive integer"),
    "image_size": (lambda v: v >= 32 and v % 32 == 0, "a multiple of 32, at least 32"),
    "mask_weight": (lambda v: v >= 0, "zero or positive"),
    "dropout_rate": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "landmark_radius": (lambda v: 0 <= v <= 16, "an integer from 0 (one pixel per point) to 16"),
    "log_every_steps": (lambda v: v > 0, "a positive integer"),
    "input_pipeline": (lambda v: v in ("auto", "host", "device"), "'auto', 'host' or 'device'"),
    "input_workers": (lambda v: v >= -1, "-1 (this machine's cores), 0 or a positive integer"),
    "input_prefetch": (lambda v: v >= -1 and v != 0, "-1 (2 x input_workers) or a positive integer"),
    "device_memory_fraction": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "startup_timeout_s": (lambda v: v > 0, "a positive number of seconds"),
    "heartbeat_timeout_s": (lambda v: v > 0, "a positive number of seconds"),
    "profile_steps": (lambda v: v >= 0, "0 (no trace) or a number of steps to trace"),
    "baseline_frames": (lambda v: v > 0, "a positive integer"),
}

# Environment variables by which cluster launchers say a process is one of several.
_CLUSTER_SIZES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def check_training_config(config: ml_collections.ConfigDict) -> None:
  for name, (is_valid, expected) in _TRAINING_CHECKS.items():
    if name in config and not is_valid(config[name]):
      raise UserError(f"config.{name}={config[name]!r} is not valid: it must be {expected}.")


def check_single_process(job: str) -> None:
  """Generation and evaluation run as one process: refuse a launch as one of many."""
  for name in _CLUSTER_SIZES:
    size = os.environ.get(name, "1")
    if size.isdigit() and int(size) > 1:
      raise UserError(f"{job} runs as one process, and this is one of {size} ({name}): "
                      f"start it once (e.g. srun -n 1 / mpirun -n 1); only training spreads over processes.")


def run(config: ml_collections.ConfigDict, workdir: str | None) -> dict[str, float]:
  """Runs `config.job` in `workdir` and returns what the job reports."""
  job = config.get("job")
  logging.set_verbosity(logging.WARNING)  # TFDS and Orbax log every step at INFO
  if job in ("evaluate", "generate", "app"):
    check_single_process(job)
  if job == "evaluate":
    if not workdir:
      raise UserError("--workdir is required: give a directory for metrics.json, metrics.md and the images.")
    runtime.configure(config.get("compilation_cache_dir"))
    from apb2face_jax.metrics import evaluate  # pylint: disable=g-import-not-at-top  (JAX after runtime.configure)
    return evaluate.run(config, workdir)
  if job == "generate":  # needs no --workdir; its config is checked by generate.run
    runtime.configure(config.get("compilation_cache_dir"))
    from apb2face_jax.inference import generate  # pylint: disable=g-import-not-at-top  (JAX after runtime.configure)
    return generate.run(config)
  if job == "app":  # needs no --workdir; serves until interrupted
    runtime.configure(config.get("compilation_cache_dir"))
    from apb2face_jax.app import page  # pylint: disable=g-import-not-at-top  (JAX after runtime.configure)
    return page.run(config)
  if job not in ("predictor", "reenactor"):
    raise UserError(f"config.job={job!r} is not a job this version runs: "
                    "use configs/predictor.py, configs/reenactor.py, configs/generate.py or configs/app.py.")
  if not workdir:
    raise UserError("--workdir is required for training: give a directory for checkpoints and logs.")
  check_training_config(config)
  runtime.configure(config.get("compilation_cache_dir"))
  from apb2face_jax.train import parallel, trainer  # pylint: disable=g-import-not-at-top  (JAX after runtime.configure)
  parallel.initialize_distributed(config)  # before anything starts a JAX backend
  if job == "predictor":
    from apb2face_jax.train.predictor_task import PredictorTask as task  # pylint: disable=g-import-not-at-top
  else:
    from apb2face_jax.train.reenactor_task import ReenactorTask as task  # pylint: disable=g-import-not-at-top
  return trainer.train_and_evaluate(config, workdir, task)
