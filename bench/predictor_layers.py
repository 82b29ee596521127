"""Where the GeometryPredictor's train step spends its time: each convolution on its own.

  python bench/predictor_layers.py [--batch 32]

For each of the 10 audio convolutions (docs/paper_and_code.md §1, shapes as `GeometryPredictor`
builds them) at one batch size: the forward pass, the weight gradient and the
input gradient, each jitted alone; median ms and GFLOP/s (2 x multiply-adds of
the forward, which each of the three costs), against the fp32 matmul peak.
On XLA:CPU the gradients run at a fraction of the forward's rate (the train
step's gap to its FLOP count); on GPUs this table is mostly launch overhead.
"""

import argparse

import common
import jax
import jax.numpy as jnp
import numpy as np

from apb2face_jax.models.predictor import GeometryPredictor

DIMENSIONS = ("NHWC", "HWIO", "NHWC")


def conv_layers(batch: int) -> list[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, int], tuple]]:
  """(name, input shape, kernel shape, strides, padding) of each audio conv, in order."""
  model = GeometryPredictor()
  layers = []
  time_steps, freq, channels = 64, 60, 1
  for i, width in enumerate(model.freq_channels):
    layers.append((f"freq_conv{i + 1}", (batch, time_steps, freq, channels), (1, 3, channels, width), (1, 2),
                   ((0, 0), (1, 1))))
    freq, channels = (freq - 1) // 2 + 1, width
  for i in range(4):
    layers.append((f"time_conv{i + 1}", (batch, time_steps, freq, channels), (3, 1, channels, channels), (2, 1),
                   ((1, 1), (0, 0))))
    time_steps = (time_steps - 1) // 2 + 1
  layers.append(("time_conv5", (batch, time_steps, freq, channels), (4, 1, channels, channels), (4, 1),
                 ((0, 0), (0, 0))))
  return layers


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=32, help="docs/paper_and_code.md §3 trains at batch 32")
  args = parser.parse_args()

  rows = []
  totals = np.zeros(3)
  for name, x_shape, w_shape, strides, padding in conv_layers(args.batch):
    x = jax.random.normal(jax.random.key(0), x_shape)
    w = 0.05 * jax.random.normal(jax.random.key(1), w_shape)
    conv = lambda x, w, s=strides, p=padding: jax.lax.conv_general_dilated(  # noqa: E731
        x, w, s, p, dimension_numbers=DIMENSIONS)
    dy = jnp.ones(jax.eval_shape(conv, x, w).shape)
    forward = jax.jit(conv)
    weight_grad = jax.jit(lambda x, w, dy, f=conv: jax.vjp(lambda w: f(x, w), w)[1](dy))
    input_grad = jax.jit(lambda x, w, dy, f=conv: jax.vjp(lambda x: f(x, w), x)[1](dy))
    flops = 2 * np.prod(dy.shape) * np.prod(w_shape[:3])
    seconds = [common.median_seconds(lambda f=f: jax.block_until_ready(f(*a)))
               for f, a in ((forward, (x, w)), (weight_grad, (x, w, dy)), (input_grad, (x, w, dy)))]
    totals += seconds
    rows.append([name, f"{x_shape[1:]} -> {dy.shape[1:]}", flops / 1e6,
                 *(f"{s * 1e3:.2f} ({flops / s / 1e9:.0f})" for s in seconds)])
  rows.append(["all ten", "", "", *(f"{s * 1e3:.1f}" for s in totals)])
  common.print_table(f"GeometryPredictor convolutions, batch {args.batch}; fp32 matmul peak "
                     f"{common.matmul_peak():.0f} GFLOP/s",
                     ["layer", "shape (T, F, C)", "MFLOP", "forward ms (GFLOP/s)", "weight grad ms (GFLOP/s)",
                      "input grad ms (GFLOP/s)"], rows)


if __name__ == "__main__":
  main()
