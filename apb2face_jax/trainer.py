"""The one training loop both networks use.

A `Task` supplies the networks, the pure train step and the evaluation; this
module supplies everything else: data, sharding, jit, resume, checkpoints,
SIGTERM, logging, pictures and the progress bar.
"""

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from apb2face_jax import checkpoint, input_pipeline, parallel
from apb2face_jax.gan_state import GanState
from apb2face_jax.summary import Summary


class Task(Protocol):
  """What differs between the two trainings."""
  name: str
  features: tuple[str, ...]            # batch keys read from the dataset
  reference_features: tuple[str, ...]  # read from the reference frame, as "ref_<name>"
  best_metric: str                     # eval metric to minimise, e.g. "l1_px"

  def meta(self) -> dict[str, Any]: ...
  def create_state(self, rng: jax.Array) -> GanState: ...
  def train_step(self, state: GanState, batch: dict, rng: jax.Array) -> tuple[GanState, dict]: ...
  def eval_step(self, state: GanState, batch: dict) -> dict[str, jax.Array]: ...
  def baselines(self, train: input_pipeline.Split, test: input_pipeline.Split) -> dict[str, float]: ...
  def picture(self, state: GanState, batch: dict) -> np.ndarray: ...  # host batch -> uint8 HWC


CONFIG_FILE = "config.json"  # the run's config, next to its checkpoints (inference rebuilds the networks from it)

TaskFactory = Callable[[ml_collections.ConfigDict, input_pipeline.Split, int], Task]


class _Preemption:
  """Turns SIGTERM into a flag the loop polls, so the run saves before it exits."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):  # pylint: disable=unused-argument
    self.requested = True

  def reached(self, step: int) -> bool:
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      return self.requested or multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def restore(self) -> None:
    signal.signal(signal.SIGTERM, self._previous)


def evaluate(task: Task, eval_fn: Callable, state: GanState, split: input_pipeline.Split, config: Any,
             mesh: jax.sharding.Mesh) -> dict[str, float]:
  """Sums of the eval step over the split, divided by their counts: `{name: sum / count}`."""
  totals: dict[str, np.ndarray] = {}
  for batch in input_pipeline.eval_batches(split, config.batch_size, parallel.host_slice(config.batch_size),
                                           task.features, task.reference_features):
    for k, v in jax.device_get(eval_fn(state, parallel.shard_batch(batch, mesh))).items():
      totals[k] = totals.get(k, 0.0) + np.asarray(v, np.float64)
  return {k: float(v[0] / max(v[1], 1e-12)) for k, v in totals.items()}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, make_task: TaskFactory) -> dict[str, float]:
  """Trains (or resumes) in `workdir`; returns the final test metrics and baselines."""
  workdir = str(Path(workdir).absolute())
  Path(workdir).mkdir(parents=True, exist_ok=True)
  if jax.process_index() == 0:
    (Path(workdir) / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
  parallel.initialize_distributed(config.distributed)
  mesh = parallel.make_mesh()
  parallel.check_global_batch(config.batch_size, mesh)
  host_part = parallel.host_slice(config.batch_size)

  builder = input_pipeline.prepare_dataset(config)
  train = input_pipeline.load_split(builder, "train")
  test = input_pipeline.load_split(builder, "test")
  per_epoch = input_pipeline.steps_per_epoch(len(train), config.batch_size)
  total_steps = config.num_train_steps if config.num_train_steps > 0 else config.num_epochs * per_epoch
  task = make_task(config, train, per_epoch)

  state = parallel.replicate(task.create_state(jax.random.key(config.seed)), mesh)
  ckpts = checkpoint.Checkpoints(workdir, task.meta(), keep=config.keep_checkpoints,
                                 best_metric="test/" + task.best_metric)
  if ckpts.latest_step() is not None:
    state = ckpts.restore(state)
    print(f"Resuming {task.name} from step {int(state.step)} in {workdir}", flush=True)
  start = int(state.step)

  repl, data = parallel.replicated(mesh), parallel.data_sharded(mesh)
  train_fn = jax.jit(task.train_step, in_shardings=(repl, data, repl), out_shardings=(repl, repl),
                     donate_argnums=(0,))
  eval_fn = jax.jit(task.eval_step, in_shardings=(repl, data), out_shardings=repl)
  picture_batch = next(input_pipeline.eval_batches(
      test, config.batch_size, host_part, task.features + ("image",), task.reference_features))

  baselines = task.baselines(train, test)
  summary = Summary(workdir)
  summary.scalars(start, {f"baseline/{k}": v for k, v in baselines.items()})
  base_rng = jax.random.key(config.seed + 1)
  checkpoint_every = max(1, config.checkpoint_every_epochs) * per_epoch
  eval_every = max(1, config.eval_every_epochs) * per_epoch
  picture_every = max(1, config.picture_every_epochs) * per_epoch
  preemption = _Preemption()
  batches = input_pipeline.train_batches(train, config.batch_size, host_part, config.seed, start,
                                         task.features, task.reference_features)
  test_metrics: dict[str, float] = {}
  pending: list[dict] = []
  bar = tqdm(total=total_steps, initial=start, desc=f"train {task.name}", unit="step", dynamic_ncols=True,
             mininterval=2.0, disable=jax.process_index() != 0)
  t0 = time.time()
  try:
    for step in range(start + 1, total_steps + 1):
      batch = parallel.shard_batch(next(batches), mesh)
      state, metrics = train_fn(state, batch, jax.random.fold_in(base_rng, step))
      pending.append(metrics)
      bar.update(1)
      if step % config.log_every_steps == 0 or step == total_steps:
        means = {f"train/{k}": float(np.mean(v)) for k, v in jax.tree.map(
            lambda *xs: np.stack(xs), *jax.device_get(pending)).items()}
        pending = []
        summary.scalars(step, {**means, "train/steps_per_s": bar.format_dict["rate"] or 0.0})
        bar.set_postfix({k.split("/")[1]: f"{v:.3g}" for k, v in means.items()}, refresh=False)
      if step % eval_every == 0 or step == total_steps:
        test_metrics = evaluate(task, eval_fn, state, test, config, mesh)
        summary.scalars(step, {f"test/{k}": v for k, v in test_metrics.items()})
      if step % picture_every == 0 or step == total_steps:
        summary.image(step, f"{task.name}_test", task.picture(state, picture_batch))
      if step % checkpoint_every == 0 or step == total_steps:
        if not (step % eval_every == 0 or step == total_steps):
          test_metrics = evaluate(task, eval_fn, state, test, config, mesh)
        ckpts.save(step, state, {f"test/{k}": v for k, v in test_metrics.items()})
      if preemption.reached(step):
        bar.close()
        print(f"SIGTERM: saving {task.name} at step {step} in {workdir}, then exiting.", flush=True)
        ckpts.save(step, state)
        ckpts.close()
        raise SystemExit(143)
  finally:
    bar.close()
    batches.close()
    preemption.restore()
    summary.close()
  ckpts.close()
  if not test_metrics:
    test_metrics = evaluate(task, eval_fn, state, test, config, mesh)
  result = {**{f"test/{k}": v for k, v in test_metrics.items()}, **{f"baseline/{k}": v for k, v in baselines.items()},
            "steps": float(total_steps), "seconds": time.time() - t0}
  if jax.process_index() == 0:
    print(f"{task.name}: step {total_steps}, " + ", ".join(f"{k} {v:.4g}" for k, v in result.items()), flush=True)
  return result


def metric_sums(per_example: jax.Array, weight: jax.Array) -> jax.Array:
  """(sum, count) of a per-example metric, padding excluded (for `eval_step`)."""
  return jnp.stack([jnp.sum(per_example * weight), jnp.sum(weight)])
