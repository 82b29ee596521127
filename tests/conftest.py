"""Test setup: 2 CPU devices (multi-device paths), the persistent compile cache, temporary files under pytest."""

import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apb2face_jax import runtime  # noqa: E402

runtime.configure()


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_under_pytest(tmp_path_factory):
  """Keeps temporary files of this session (and its subprocesses) in pytest's own tree.

  tensorflow_datasets leaves an empty `mkdtemp('tfds')` directory behind for every builder
  made before its data exists (`DatasetInfo.initialize_from_bucket`); pytest prunes its tree.
  """
  scratch = str(tmp_path_factory.mktemp("tempfile"))
  saved = tempfile.tempdir, os.environ.get("TMPDIR")
  tempfile.tempdir = os.environ["TMPDIR"] = scratch
  yield
  tempfile.tempdir = saved[0]
  if saved[1] is None:
    os.environ.pop("TMPDIR", None)
  else:
    os.environ["TMPDIR"] = saved[1]
