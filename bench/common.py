"""Timing and table helpers shared by the bench scripts."""

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apb2face_jax import runtime  # noqa: E402

runtime.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def machine() -> str:
  """One line naming the device(s) and host the numbers come from."""
  device = jax.devices()[0]
  kind = device.device_kind if device.platform != "cpu" else platform.processor() or "cpu"
  cpu = ""
  try:
    cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return (f"{jax.device_count()} x {device.platform} ({kind}); host {cpu}, {os.cpu_count()} cores; "
          f"jax {jax.__version__}")


def median_seconds(fn: Callable[[], object], warmup: int = 2, repeats: int = 10, min_seconds: float = 1.0) -> float:
  """Median wall time of `fn()` (which must block until its result is ready)."""
  for _ in range(warmup):
    fn()
  times: list[float] = []
  start = time.perf_counter()
  while len(times) < repeats or (time.perf_counter() - start < min_seconds and len(times) < 200):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return statistics.median(times)


def train_step_seconds(step: Callable, state: object, batch: object, **timing) -> float:
  """Median seconds of a jitted `(state, batch, rng) -> (state, metrics)` step, state donated along."""
  holder = {"state": state}

  def once():
    holder["state"], metrics = step(holder["state"], batch, jax.random.key(0))
    jax.block_until_ready(metrics)

  return median_seconds(once, **timing)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
  print(f"\n{title}\n{machine()}\n")
  print("| " + " | ".join(header) + " |")
  print("|" + "|".join("---" for _ in header) + "|")
  for row in rows:
    print("| " + " | ".join(f"{x:.4g}" if isinstance(x, float) else str(x) for x in row) + " |")


def matmul_peak(n: int = 2048) -> float:
  """fp32 GEMM GFLOP/s on JAX's default device (numpy's too on CPU): the best of both."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  best = []
  for _ in range(5):
    t = time.perf_counter()
    f(a).block_until_ready()
    best.append(time.perf_counter() - t)
  result = 2 * n**3 / min(best) / 1e9
  if jax.default_backend() == "cpu":
    x = np.asarray(a)
    x @ x
    times = []
    for _ in range(5):
      t = time.perf_counter()
      x @ x
      times.append(time.perf_counter() - t)
    result = max(result, 2 * n**3 / min(times) / 1e9)
  return result
