"""The one training loop both networks use, on one process or many.

A `Task` supplies the networks, the pure train step and the evaluation; this
module supplies everything else: data, sharding, jit, resume, checkpoints,
SIGTERM, logging, pictures and the progress bar.

Every process runs this loop over the same global batches (each feeding its own
rows); process 0 alone writes config.json, TensorBoard, pictures, the progress
bar and the prints; every process takes part in each checkpoint.
"""

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from apb2face_jax.data import splits
from apb2face_jax.models.checkpoints import CONFIG_FILE, Checkpoints
from apb2face_jax.train import input_pipeline, parallel
from apb2face_jax.errors import UserError, make_folder
from apb2face_jax.train.gan_state import GanState
from apb2face_jax.train.summary import Summary


class Task(Protocol):
  """What differs between the two trainings."""
  name: str
  features: tuple[str, ...]            # batch keys read from the dataset
  reference_features: tuple[str, ...]  # read from the reference frame, as "ref_<name>"
  best_metric: str                     # eval metric to minimise, e.g. "l1_px"
  model: Any                           # models.bundle: its `settings` go into each checkpoint's record

  def meta(self) -> dict[str, Any]: ...
  def create_state(self, rng: jax.Array) -> GanState: ...
  def train_step(self, state: GanState, batch: dict, rng: jax.Array) -> tuple[GanState, dict]: ...
  def eval_step(self, state: GanState, batch: dict) -> dict[str, jax.Array]: ...
  def baselines(self, train: splits.Split, test: splits.Split) -> dict[str, float]: ...
  def picture(self, state: GanState, batch: dict) -> np.ndarray: ...  # host batch -> uint8 HWC


TaskFactory = Callable[[ml_collections.ConfigDict, int], Task]


def say(message: str) -> None:
  """Prints once per job (process 0)."""
  if jax.process_index() == 0:
    print(message, flush=True)


class _Preemption:
  """SIGTERM -> the step at which every process saves and exits.

  One process: a Python handler sets a flag. Several: JAX's own handler (set by
  `jax.distributed.initialize`) tells the coordinator, which names one step that
  every process reaches (`reached_preemption_sync_point`), so all save the same
  step even when only one of them was signalled.
  """

  def __init__(self):
    self.requested = False
    self._previous = None
    if jax.process_count() == 1:
      self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    self.requested = True

  def reached(self, step: int) -> bool:
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def due(step: int, every: int, last: int) -> bool:
  """True at every `every`-th step and at the last one."""
  return step % every == 0 or step == last


def evaluate(eval_fn: Callable, state: GanState, feed: input_pipeline.Feed) -> dict[str, float]:
  """Sums of the eval step over the test split (all processes' rows), divided by their counts."""
  totals: dict[str, np.ndarray] = {}
  for batch in feed.evaluation():
    for k, v in jax.device_get(eval_fn(state, batch)).items():
      totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
  return {k: float(v[0] / max(v[1], 1e-12)) for k, v in totals.items()}


class _Trace:
  """A `jax.profiler` trace of `steps` training steps from step `first` (none when steps is 0)."""

  def __init__(self, folder: Path, first: int, steps: int):
    self.folder, self.first, self.last, self.active = folder, first, first + steps, False

  def at(self, step: int) -> None:
    if step == self.first and self.last > self.first:
      jax.profiler.start_trace(str(self.folder))
      self.active = True
    elif step == self.last:
      self.stop()

  def stop(self) -> None:
    if self.active:
      jax.profiler.stop_trace()
      self.active = False
      say(f"profile of steps {self.first}-{self.last - 1}: {self.folder} (tensorboard --logdir {self.folder})")


def jit_steps(task: Task, mesh: jax.sharding.Mesh) -> tuple[Callable, Callable]:
  """The task's train and eval steps, jitted over `mesh` (state replicated, batch split over `data`)."""
  repl, data = parallel.replicated(mesh), parallel.data_sharded(mesh)
  step_fn = lambda s, b, r: task.train_step(s, input_pipeline.model_input(b), r)  # noqa: E731
  train_fn = jax.jit(step_fn, in_shardings=(repl, data, repl), out_shardings=(repl, repl), donate_argnums=(0,))
  eval_fn = jax.jit(lambda s, b: task.eval_step(s, input_pipeline.model_input(b)), in_shardings=(repl, data),
                    out_shardings=repl)
  return train_fn, eval_fn


def _prepare_dataset(config: ml_collections.ConfigDict) -> Any:
  """Process 0 builds the dataset on first use; the others wait, then open it (or build their own copy)."""
  if jax.process_count() == 1:
    return splits.prepare(config)
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  builder = splits.prepare(config) if jax.process_index() == 0 else None
  multihost_utils.sync_global_devices("apb2face_jax: dataset prepared")
  return builder or splits.prepare(config)


def _input_mode(config: ml_collections.ConfigDict, train: splits.Split, test: splits.Split,
                task: Task) -> str:
  """The feeding mode, the same on every process (process 0's choice)."""
  mode = input_pipeline.choose_mode(config.input_pipeline, (train, test), task.features + task.reference_features,
                                    config.device_memory_fraction)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    mode = ("host", "device")[int(multihost_utils.broadcast_one_to_all(np.int32(mode == "device")))]
  return mode


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, make_task: TaskFactory) -> dict[str, float]:
  """Trains (or resumes) in `workdir`; returns the final test metrics and baselines.

  When a process of a multi-process job dies, the others say so at once and stop
  within the heartbeat timeout (exit status 1, or JAX's own abort at that
  timeout), naming the lost process when JAX lets them; rerunning resumes from
  the latest checkpoint.
  """
  step = [0]
  try:
    return _train(config, Path(workdir).absolute(), make_task, step)
  except UserError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (a failed collective: did a process die?)
    if jax.process_count() == 1 or not _lost_a_process(e):
      raise
    sys.stdout.flush()
    print(f"error: this job lost a process near step {step[0]} (killed, or its host failed): every other "
          "process stops now. Rerun the same command on every host to resume from the latest checkpoint.",
          file=sys.stderr, flush=True)
    # Naming it waits for the coordinator's heartbeat timeout, at which JAX may abort this process itself.
    lost = parallel.lost_processes()
    print(f"error: lost process(es): {', '.join(map(str, lost)) or 'none found'} of {jax.process_count()}.",
          file=sys.stderr, flush=True)
    os._exit(1)  # skips jax.distributed's shutdown barrier, which would wait for the lost process


def _lost_a_process(error: Exception) -> bool:
  """Whether `error` is a collective or coordination failure (a peer went away), not a bug of ours."""
  text = str(error)
  return any(k in text for k in ("Gloo", "Connection reset", "heartbeat", "NCCL", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                                 "coordination service", "Barrier"))


def _train(config: ml_collections.ConfigDict, workdir: Path, make_task: TaskFactory, step_box: list[int]
           ) -> dict[str, float]:
  make_folder(workdir, "--workdir")
  mesh = parallel.make_mesh()
  parallel.check_global_batch(config.batch_size, mesh)
  if jax.process_index() == 0:
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))

  builder = _prepare_dataset(config)
  train = splits.load(builder, "train")
  test = splits.load(builder, "test")
  per_epoch = input_pipeline.steps_per_epoch(len(train), config.batch_size)
  total_steps = config.num_train_steps if config.num_train_steps > 0 else config.num_epochs * per_epoch
  task = make_task(config, per_epoch)

  state = parallel.replicate(task.create_state(jax.random.key(config.seed)), mesh)
  record = {"model": task.model.settings, "data": splits.record(builder, train, config.get("manual_dir"))}  # what inference needs
  ckpts = Checkpoints(workdir, task.meta(), record=record, keep=config.keep_checkpoints,
                      best_metric="test/" + task.best_metric)
  if ckpts.latest_step() is not None:
    state = ckpts.restore(state)
    say(f"Resuming {task.name} from step {int(state.step)} in {workdir}")
  start = int(state.step)

  workers = config.input_workers if config.input_workers >= 0 else input_pipeline.default_workers()
  prefetch = config.input_prefetch if config.input_prefetch > 0 else 2 * max(1, workers)
  feed = input_pipeline.Feed(_input_mode(config, train, test, task), train, test, mesh, config.batch_size,
                             config.seed, task.features, task.reference_features, workers, prefetch)
  say(f"{task.name}: {parallel.describe(mesh, config.batch_size)}; {feed.describe()}; "
      f"steps {start} -> {total_steps}")

  train_fn, eval_fn = jit_steps(task, mesh)

  lead = jax.process_index() == 0
  picture_batch = None
  if lead:
    picture_batch = input_pipeline.model_input(next(input_pipeline.eval_batches(
        test, config.batch_size, slice(None), task.features + ("image",), task.reference_features)))
  baselines = task.baselines(train, test) if lead else {}
  summary = Summary(workdir)
  summary.scalars(start, {f"baseline/{k}": v for k, v in baselines.items()})
  base_rng = jax.random.key(config.seed + 1)
  checkpoint_every = max(1, config.checkpoint_every_epochs) * per_epoch
  eval_every = max(1, config.eval_every_epochs) * per_epoch
  picture_every = max(1, config.picture_every_epochs) * per_epoch
  preemption = _Preemption()
  batches = feed.train(start, total_steps - start)
  test_metrics: dict[str, float] = {}
  pending: list[dict] = []
  bar = tqdm(total=total_steps, initial=start, desc=f"train {task.name}", unit="step", dynamic_ncols=True,
             mininterval=2.0, disable=not lead)
  t0 = window_start = time.time()
  window_steps = 0
  trace = _Trace(workdir / "profile", first=start + 2, steps=config.profile_steps if lead else 0)
  try:
    for step in range(start + 1, total_steps + 1):
      step_box[0] = step
      trace.at(step)
      state, metrics = train_fn(state, next(batches), jax.random.fold_in(base_rng, step))
      pending.append(metrics)
      window_steps += 1
      bar.update(1)
      if due(step, config.log_every_steps, total_steps):
        means = {f"train/{k}": float(np.mean(v)) for k, v in jax.tree.map(
            lambda *xs: np.stack(xs), *jax.device_get(pending)).items()}
        now = time.time()
        summary.scalars(step, {**means, "train/steps_per_s": window_steps / max(now - window_start, 1e-9)})
        bar.set_postfix({k.split("/")[1]: f"{v:.3g}" for k, v in means.items()}, refresh=False)
        pending, window_start, window_steps = [], now, 0
      if due(step, eval_every, total_steps) or due(step, checkpoint_every, total_steps):
        test_metrics = evaluate(eval_fn, state, feed)
        summary.scalars(step, {f"test/{k}": v for k, v in test_metrics.items()})
      if lead and due(step, picture_every, total_steps):
        local = parallel.host_copy(state.replace(g_opt_state=None, d_opt_state=None, d_params=None))
        summary.image(step, f"{task.name}_test", task.picture(local, picture_batch))
      if due(step, checkpoint_every, total_steps):
        ckpts.save(step, state, {f"test/{k}": v for k, v in test_metrics.items()})
      if preemption.reached(step):
        bar.close()
        say(f"SIGTERM: saving {task.name} at step {step} in {workdir}, then exiting.")
        ckpts.save(step, state)
        ckpts.close()
        raise SystemExit(143)
  finally:
    trace.stop()
    bar.close()
    preemption.restore()
    summary.close()
  ckpts.close()
  if not test_metrics:
    test_metrics = evaluate(eval_fn, state, feed)
  result = {**{f"test/{k}": v for k, v in test_metrics.items()}, **{f"baseline/{k}": v for k, v in baselines.items()},
            "steps": float(total_steps), "seconds": time.time() - t0}
  say(f"{task.name}: step {total_steps}, " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()))
  return result
