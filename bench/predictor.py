"""GeometryPredictor speed: inference frames/s and G+D training steps/s.

  python bench/predictor.py [--batched 300] [--train-batch 32]

Inference at batch 1 (streaming, one frame a call) and batched (a whole 10 s
utterance at 30 fps in one call), and the full G+D train step of docs/paper_and_code.md §3 at
batch 32, on whatever device JAX sees. Random weights and inputs.
"""

import argparse

import common  # noqa: F401  (configures JAX first)
import jax
import numpy as np

from apb2face_jax import inference
from apb2face_jax.train.predictor_task import PredictorTask
from configs import predictor as predictor_config


def inputs(n: int) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(0)
  return {"mfcc": rng.normal(size=(n, 64, 60)).astype(np.float32),
          "pose": rng.normal(size=(n, 3)).astype(np.float32) * 0.2,
          "blink": rng.uniform(0.1, 0.4, size=(n, 2)).astype(np.float32),
          "landmarks": rng.uniform(60, 200, size=(n, 106, 2)).astype(np.float32),
          "ref_landmarks": rng.uniform(60, 200, size=(n, 106, 2)).astype(np.float32)}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batched", type=int, default=300, help="frames in the batched call (10 s at 30 fps)")
  parser.add_argument("--train-batch", type=int, default=32)
  args = parser.parse_args()

  rows = []
  for dtype in ("float32", "bfloat16"):
    config = predictor_config.get_config()
    config.dtype = dtype
    task = PredictorTask(config, steps_per_epoch=100)
    state = task.create_state(jax.random.key(0))
    predict = jax.jit(inference.inference_predict(task))  # as inference.Predictor runs it
    for n in (1, args.batched):
      batch = jax.device_put(inputs(n))
      seconds = common.median_seconds(lambda: predict(state.g_params, batch).block_until_ready())
      rows.append([f"inference, batch {n}", dtype, seconds * 1e3, n / seconds])
    step = jax.jit(task.train_step, donate_argnums=(0,))
    batch = jax.device_put(inputs(args.train_batch))
    seconds = common.train_step_seconds(step, state, batch)
    rows.append([f"G+D train step, batch {args.train_batch}", dtype, seconds * 1e3, args.train_batch / seconds])
  common.print_table("GeometryPredictor (docs/paper_and_code.md §1; 0.256 GFLOP/frame forward)",
                     ["case", "dtype", "ms per call (median)", "frames (or train samples) / s"], rows)


if __name__ == "__main__":
  main()
