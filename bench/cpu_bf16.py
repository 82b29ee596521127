"""Why bfloat16 gives no speed on XLA:CPU here: matmul and convolution rates, fp32 and bf16.

  python bench/cpu_bf16.py

Runs each case under two XLA:CPU settings, each in its own process (flags are read
once, at backend start): ours (`runtime.CPU_XLA_FLAGS`: YNNPACK off for single dots
and convolutions) and YNNPACK on for single dots. Cases, at the paper-size generator's
residual-block shapes (64x64, 256 channels, 3x3; 4.8 GFLOP): a (4096, 2304) x (2304, 256)
matmul; the convolution; and the convolution as three bf16 row matmuls accumulated in
fp32 (the kernel's columns gathered once), the fastest matmul form of it we found.
With torch installed, the same convolution in PyTorch (bf16 under `torch.autocast`).
"""

import os
import subprocess
import sys

FLOPS = 2 * 4096 * 2304 * 256  # each case: the 3x3 convolution 256 -> 256 at 64x64, or that matmul


def measure() -> list[list[object]]:
  """Rows [case, dtype, GFLOP/s] under the flags this process started with."""
  import common  # pylint: disable=g-import-not-at-top  (configures JAX: keeps XLA_FLAGS given)
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def row_matmul_conv(x, w):
    columns = jnp.concatenate([x[:, :, j:j + 64] for j in range(3)], axis=-1)
    out = sum(jnp.dot(columns[:, i:i + 64].reshape(-1, 768), w[i].reshape(768, 256),
                      preferred_element_type=jnp.float32) for i in range(3))
    return out.astype(x.dtype)

  def conv(x, w):
    return jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

  key_x, key_w = jax.random.split(jax.random.key(0))
  rows = []
  for dtype in (jnp.float32, jnp.bfloat16):
    a = jax.random.normal(key_x, (4096, 2304)).astype(dtype)
    b = jax.random.normal(key_w, (2304, 256)).astype(dtype)
    x = jax.random.normal(key_x, (1, 66, 66, 256)).astype(dtype)
    w = jax.random.normal(key_w, (3, 3, 256, 256)).astype(dtype)
    cases = [("matmul (4096, 2304) x (2304, 256), fp32 accumulation",
              jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32)), (a, b)),
             ("3x3 convolution, 256 -> 256 channels, 64x64", jax.jit(conv), (x, w))]
    if dtype == jnp.bfloat16:
      cases.append(("the same convolution as 3 row matmuls", jax.jit(row_matmul_conv), (x, w)))
    for name, fn, args in cases:
      seconds = common.median_seconds(lambda: jax.block_until_ready(fn(*args)), repeats=7, min_seconds=0.3)
      rows.append([name, jnp.dtype(dtype).name, FLOPS / seconds / 1e9])
  return rows


def torch_rows(common) -> list[list[object]]:
  """The same convolution in PyTorch (fp32, and bf16 under autocast), when torch is installed."""
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    return []
  torch.set_num_threads(len(os.sched_getaffinity(0)))
  x, w = torch.randn(1, 256, 66, 66), torch.randn(256, 256, 3, 3)
  rows = []
  for dtype in (torch.float32, torch.bfloat16):
    def run():
      with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        torch.nn.functional.conv2d(x, w)
    seconds = common.median_seconds(run, repeats=7, min_seconds=0.3)
    rows.append([f"torch {torch.__version__}", "3x3 convolution, 256 -> 256 channels, 64x64",
                 str(dtype).removeprefix("torch."), f"{FLOPS / seconds / 1e9:.0f}"])
  return rows


def main() -> None:
  if os.environ.get("CPU_BF16_CHILD"):
    for row in measure():
      print("\t".join(map(str, row)))
    return
  import common  # pylint: disable=g-import-not-at-top  (puts the repository on sys.path)
  from apb2face_jax import runtime  # pylint: disable=g-import-not-at-top
  settings = {"ours (YNNPACK off for dots and convs)": runtime.CPU_XLA_FLAGS,
              "YNNPACK on for dots": runtime.CPU_XLA_FLAGS.replace(",-individual_dot", "")}
  assert settings["YNNPACK on for dots"] != runtime.CPU_XLA_FLAGS, "runtime.CPU_XLA_FLAGS changed: update this bench"
  rows = []
  for setting, flags in settings.items():
    env = dict(os.environ, CPU_BF16_CHILD="1", XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, __file__], env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
      case, dtype, rate = line.split("\t")
      rows.append([setting, case, dtype, f"{float(rate):.0f}"])
  rows += torch_rows(common)
  common.print_table("XLA:CPU fp32 and bf16 rates (GFLOP/s, medians)", ["XLA:CPU setting", "case", "dtype", "GFLOP/s"],
                     rows)


if __name__ == "__main__":
  main()
