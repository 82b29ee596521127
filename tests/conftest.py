"""Test setup: 2 CPU devices (multi-device paths), the persistent compile cache, temporary files under pytest."""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apb2face_jax import runtime  # noqa: E402

runtime.configure()

REPO = Path(__file__).resolve().parents[1]
DUMMY_RAW = REPO / "tfds_annvi" / "dummy_data"  # 2 identities, 13 train and 2 test frames as `annvi`


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
  """The dummy AnnVI root built once as `tfds_annvi/annvi`."""
  import tfds_annvi  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp("tfds")
  tfds_annvi.prepare("annvi", data_dir=str(path), manual_dir=str(DUMMY_RAW))
  return path


def saved_steps(workdir: Path) -> list[int]:
  """The checkpoint steps in a training workdir."""
  ckpt = workdir / "checkpoints"
  return sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) if ckpt.exists() else []


def final_params(workdir: Path) -> list[np.ndarray]:
  """G and D parameters of the latest checkpoint (saved on any devices), as flat numpy leaves."""
  import jax  # pylint: disable=g-import-not-at-top
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  path = workdir / "checkpoints" / str(saved_steps(workdir)[-1]) / "state"
  here = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=here),
                          ocp.StandardCheckpointer().metadata(path).item_metadata)
  state = ocp.StandardCheckpointer().restore(path, abstract)
  return [np.asarray(x) for x in jax.tree.leaves((state["g_params"], state["d_params"]))]


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
