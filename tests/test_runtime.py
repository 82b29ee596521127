"""runtime.configure: on CPU numpy's BLAS gets one thread, unless the user chose a count."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = ("import json, numpy, threadpoolctl\n"
         "from apb2face_jax import runtime\n"
         "runtime.configure()\n"
         "print(json.dumps([p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']))")


def blas_threads(**env: str) -> list[int]:
  clean = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
  result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env={**clean, "JAX_PLATFORMS": "cpu", **env},
                          capture_output=True, text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: BLAS has one thread anyway")
def test_numpy_blas_gets_one_thread_on_cpu_unless_the_user_set_a_count():
  assert blas_threads() and set(blas_threads()) == {1}
  assert set(blas_threads(OPENBLAS_NUM_THREADS="2")) == {2}
