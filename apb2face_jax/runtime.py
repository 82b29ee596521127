"""Process-wide JAX settings, applied once before the first computation.

The one place that sets XLA flags and the persistent compilation cache, so that
`launch.py`, the tests and the benchmarks all run the same way.
"""

import importlib.util
import os
from pathlib import Path

# XLA:CPU's YNNPACK kernels for single convolutions and dots are slow for these
# networks' shapes; turning them off gave 1.7-2.1x on the predictor and matched
# PyTorch on training (docs/paper_and_code.md §8, measured on 2-core CPUs).
CPU_XLA_FLAGS = "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution,-individual_dot"
# numpy's OpenBLAS keeps its threads spinning after each call. Interleaved with XLA:CPU (a live stream computes
# MFCCs between generator calls) they took half of XLA's cores: one BLAS thread made the live stream 34 -> 65
# frames/s on 2 vCPUs (docs/performance.md). Set only on CPU, and only when the user has not chosen a count.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "apb2face_jax" / "xla"


def _accelerator_plugin_installed() -> bool:
  return any(importlib.util.find_spec(name) is not None for name in ("jax_cuda12_plugin", "jax_cuda13_plugin", "libtpu"))


_configured = False


def _one_blas_thread() -> None:
  """One OpenBLAS thread: in libraries loaded from now on (the variable) and in those already loaded."""
  import threadpoolctl  # pylint: disable=g-import-not-at-top

  os.environ["OPENBLAS_NUM_THREADS"] = "1"
  threadpoolctl.threadpool_limits(1, user_api="blas")


def configure(cache_dir: str | os.PathLike | None = None, cpu_flags: bool = True) -> None:
  """Sets the CPU XLA flags and one BLAS thread (CPU-only machines), and the persistent compile cache.

  Must run before JAX initialises its backend (before the first array is made).
  Flags already in `XLA_FLAGS` are kept; ours are added only when absent. A
  later call without `cache_dir` (`import apb2face_jax.inference` makes one)
  keeps what an earlier call set.
  """
  global _configured
  if _configured and cache_dir is None:
    return
  _configured = True
  platforms = os.environ.get("JAX_PLATFORMS", "")
  if not platforms and not _accelerator_plugin_installed():
    os.environ["JAX_PLATFORMS"] = platforms = "cpu"  # skips the noisy probe for a TPU that is not there
  on_cpu = platforms == "cpu"
  if cpu_flags and on_cpu and "ynn_fusion_type" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + CPU_XLA_FLAGS).strip()
  if cpu_flags and on_cpu and not any(name in os.environ for name in BLAS_THREAD_VARIABLES):
    _one_blas_thread()
  import jax  # pylint: disable=g-import-not-at-top  (after XLA_FLAGS)

  cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
  cache.mkdir(parents=True, exist_ok=True)
  jax.config.update("jax_compilation_cache_dir", str(cache))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
