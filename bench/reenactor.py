"""FaceReenactor speed: generator frames/s and G+D training samples/s, fp32 and bf16.

  python bench/reenactor.py [--variant paper|sample] [--batched 16] [--train-batch 4]

`paper` is the official size (ResNet-9 l2face, ngf 64, 256x256; 142.6 GFLOP per
frame forward), `sample` the CPU-sized default of configs/reenactor.py. Random
weights and inputs; the same script is what a GPU run uses.
"""

import argparse

import common  # noqa: F401  (configures JAX first)
import jax
import numpy as np

from apb2face_jax.train.reenactor_task import ReenactorTask
from configs import reenactor as reenactor_config


def batch_of(n: int) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  return {"image": rng.uniform(-1, 1, (n, 256, 256, 3)).astype(np.float32),
          "ref_image": rng.uniform(-1, 1, (n, 256, 256, 3)).astype(np.float32),
          "landmarks": rng.uniform(60, 200, (n, 106, 2)).astype(np.float32)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--variant", default="paper", choices=("paper", "sample"))
  parser.add_argument("--batched", type=int, default=16)
  parser.add_argument("--train-batch", type=int, default=4)
  parser.add_argument("--dtypes", default="float32,bfloat16")
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  rows = []
  for dtype in args.dtypes.split(","):
    config = reenactor_config.get_config(args.variant)
    config.dtype = dtype
    task = ReenactorTask(config, steps_per_epoch=100)
    state = task.create_state(jax.random.key(0))
    size = config.image_size
    render = jax.jit(lambda s, x: task.generate(s.g_params, s.g_vars, x, None)[0])
    for n in (1, args.batched):
      drawn = jax.device_put(np.random.default_rng(0).uniform(-1, 1, (n, size, size, 3)).astype(np.float32))
      seconds = common.median_seconds(lambda: render(state, drawn).block_until_ready(), warmup=1,
                                      repeats=args.repeats, min_seconds=0.5)
      rows.append([f"generator, batch {n}", dtype, seconds * 1e3, n / seconds])
    step = jax.jit(task.train_step, donate_argnums=(0,))
    batch = jax.device_put(batch_of(args.train_batch))
    seconds = common.train_step_seconds(step, state, batch, warmup=1, repeats=args.repeats, min_seconds=0.5)
    rows.append([f"G+D train step, batch {args.train_batch}", dtype, seconds * 1e3, args.train_batch / seconds])
  common.print_table(f"FaceReenactor, variant '{args.variant}' ({config.generator}, ngf {config.ngf}, "
                     f"{config.image_size}x{config.image_size})",
                     ["case", "dtype", "ms per call (median)", "frames (or train samples) / s"], rows)


if __name__ == "__main__":
  main()
