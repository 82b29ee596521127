"""End-to-end training throughput: the real input pipeline against the step alone.

  python bench/train_throughput.py [--dataset sample] [--cases predictor:sample,reenactor:sample,...]

For each network and size (`predictor:sample|annvi`, `reenactor:sample|paper`) on
a prepared `tfds_annvi` config: training steps/s (1) with the host pipeline
(grain, `--workers` decode threads), (2) device-resident, (3) the same jitted
step on one batch already on the devices (the step alone); and the host
pipeline alone in frames/s, with 1 decode thread and with `--workers`. It says
whether training is input-bound on this machine (host end to end below 90 % of
the step alone) and how many decode threads (cores) the host path would need to
feed the step.
"""

import argparse
import time

import common  # noqa: F401  (configures JAX first)
import jax

from apb2face_jax.data import splits
from apb2face_jax.train import input_pipeline, parallel, trainer
from apb2face_jax.train.predictor_task import PredictorTask
from apb2face_jax.train.reenactor_task import ReenactorTask
from configs import predictor as predictor_config
from configs import reenactor as reenactor_config

NETWORKS = {"predictor": (predictor_config, PredictorTask), "reenactor": (reenactor_config, ReenactorTask)}


def steps_per_second(train_fn, state, batches, steps: int, warmup: int = 2) -> tuple[float, object]:
  """Steps/s over `steps` steps after `warmup`, batches drawn from the iterator `batches`."""
  for _ in range(warmup):
    state, metrics = train_fn(state, next(batches), jax.random.key(0))
  jax.block_until_ready(metrics)
  t = time.perf_counter()
  for _ in range(steps):
    state, metrics = train_fn(state, next(batches), jax.random.key(0))
  jax.block_until_ready(metrics)
  return steps / (time.perf_counter() - t), state


def host_frames_per_second(split, batch: int, features, refs, workers: int, steps: int) -> float:
  """Decoded frames/s of the host pipeline alone (no step)."""
  frames_per_batch = batch * (("image" in features) + ("image" in refs))
  batches = input_pipeline.host_train_batches(split, batch, slice(None), 0, 0, steps + 2, features, refs,
                                              workers=workers, prefetch=2 * max(1, workers))
  next(batches)
  t = time.perf_counter()
  for _ in range(steps):
    next(batches)
  return frames_per_batch * steps / (time.perf_counter() - t)


def measure(network: str, variant: str, args: argparse.Namespace) -> list[object]:
  module, task_class = NETWORKS[network]
  config = module.get_config(variant)
  config.dataset, config.data_dir, config.manual_dir = args.dataset, args.data_dir, args.manual_dir
  if args.batch.get(f"{network}:{variant}"):
    config.batch_size = args.batch[f"{network}:{variant}"]
  builder = splits.prepare(config)
  train, test = (splits.load(builder, s) for s in ("train", "test"))
  task = task_class(config, input_pipeline.steps_per_epoch(len(train), config.batch_size))
  mesh = parallel.make_mesh()
  train_fn, _ = trainer.jit_steps(task, mesh)
  state = parallel.replicate(task.create_state(jax.random.key(0)), mesh)
  feed = {mode: input_pipeline.Feed(mode, train, test, mesh, config.batch_size, 0, task.features,
                                    task.reference_features, args.workers, 2 * max(1, args.workers))
          for mode in ("host", "device")}
  one = next(feed["device"].train(0, 1))
  alone, state = steps_per_second(train_fn, state, iter(lambda: one, None), args.steps)
  rates = {}
  for mode, f in feed.items():
    rates[mode], state = steps_per_second(train_fn, state, f.train(0, args.steps + 2), args.steps)
  images = ("image" in task.features) + ("image" in task.reference_features)
  row = [f"{network}:{variant}", config.batch_size, alone, rates["host"], rates["device"]]
  if images:
    per_worker = host_frames_per_second(train, config.batch_size, task.features, task.reference_features, 1,
                                        args.steps)
    pooled = host_frames_per_second(train, config.batch_size, task.features, task.reference_features,
                                    args.workers, args.steps)
    needed = alone * config.batch_size * images / per_worker
    row += [per_worker, pooled, f"{needed:.2f}"]
  else:
    row += ["no images", "no images", "0 (no decoding)"]
  bound = rates["host"] < 0.9 * alone
  row.append(f"{'input-bound' if bound else 'not input-bound'} ({rates['host'] / alone:.0%} of the step alone)")
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dataset", default="sample")
  parser.add_argument("--data_dir", default=None)
  parser.add_argument("--manual_dir", default=None)
  parser.add_argument("--cases", default="predictor:sample,predictor:annvi,reenactor:sample,reenactor:paper")
  parser.add_argument("--batch", default="", help="overrides, e.g. reenactor:paper=2 (CPU-sized)")
  parser.add_argument("--workers", type=int, default=input_pipeline.default_workers())
  parser.add_argument("--steps", type=int, default=10)
  args = parser.parse_args()
  args.batch = {k: int(v) for k, v in (item.split("=") for item in args.batch.split(",") if item)}
  rows = [measure(*case.split(":"), args) for case in args.cases.split(",")]
  common.print_table(
      f"Training throughput on tfds_annvi/{args.dataset}: steps/s end to end vs the step alone; "
      f"host pipeline alone in frames/s ({args.workers} decode threads)",
      ["network:size", "global batch", "step alone (steps/s)", "host pipeline (steps/s)", "device-resident (steps/s)",
       "host frames/s, 1 thread", f"host frames/s, {args.workers} threads", "threads to feed the step", "verdict"],
      rows)


if __name__ == "__main__":
  main()
