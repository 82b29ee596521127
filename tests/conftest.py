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


TINY_SIZE = 32  # the tiny reenactor's image size
# The data record of the tiny workdirs: 30 fps, corrected MFCCs, a centre unlike the default one.
TINY_DATA = {"dataset": None, "data_dir": None, "manual_dir": None, "fps": 30.0, "mfcc_mode": "corrected",
             "centre": {"pose": [0.01, 0.02, 0.03], "eye_open": [0.35, 0.35], "eye_closed": [0.1, 0.1]}}


def tiny_reenactor_config():
  """A reenactor config small enough for tests: 32 px, 4 filters, one block."""
  from configs import reenactor as reenactor_config  # pylint: disable=g-import-not-at-top
  c = reenactor_config.get_config()
  c.update(image_size=TINY_SIZE, ngf=4, ndf=4, batch_size=2)
  c.generator_kwargs.n_blocks = 1
  return c


def save_workdir(workdir: Path, config, task, state=None, *, meta: dict | None = None, data: dict | None = None,
                 record: bool = True, best: float | None = None) -> Path:
  """A training workdir as launch.py leaves it: config.json + one checkpoint with its record.

  `data`: the record of the training data (default TINY_DATA); `record=False` writes a
  checkpoint as they were before records; `best` saves that test metric with it.
  """
  import jax  # pylint: disable=g-import-not-at-top
  from apb2face_jax.models.checkpoints import CONFIG_FILE, Checkpoints  # pylint: disable=g-import-not-at-top
  state = task.create_state(jax.random.key(0)) if state is None else state
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
  ckpts = Checkpoints(workdir, meta or task.meta(), best_metric="test/" + task.best_metric, async_save=False,
                      record={"model": task.model.settings, "data": data or TINY_DATA} if record else None)
  ckpts.save(int(state.step), state, None if best is None else {"test/" + task.best_metric: best})
  ckpts.close()
  return workdir


def train_yaw_predictor(config, steps: int = 60, batch: int = 8):
  """A predictor trained for seconds (L1 only) on synthetic data whose landmarks move right with yaw."""
  import jax  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train.predictor_task import PredictorTask  # pylint: disable=g-import-not-at-top
  task = PredictorTask(config, steps_per_epoch=1000)
  rng = np.random.default_rng(0)
  template = rng.uniform(80, 180, size=(106, 2)).astype(np.float32)
  step = jax.jit(task.train_step)
  state = task.create_state(jax.random.key(0))
  for i in range(steps):
    pose = rng.uniform(-0.35, 0.35, size=(batch, 3)).astype(np.float32)
    landmarks = np.broadcast_to(template, (batch, 106, 2)).copy()
    landmarks[..., 0] += 100.0 * pose[:, 2:3]  # yaw (stored last) -> x
    data = {"mfcc": rng.normal(size=(batch, 64, 60)).astype(np.float32), "pose": pose,
            "blink": rng.uniform(0.1, 0.4, size=(batch, 2)).astype(np.float32), "landmarks": landmarks,
            "ref_landmarks": landmarks}
    state, _ = step(state, data, jax.random.key(i))
  return task, state


@pytest.fixture(scope="session")
def workdirs(tmp_path_factory) -> dict[str, Path]:
  """Tiny predictor (briefly trained: yaw moves its landmarks) and untrained tiny reenactor workdirs."""
  import jax  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train.reenactor_task import ReenactorTask  # pylint: disable=g-import-not-at-top
  from configs import predictor as predictor_config  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("runs")
  p_config = predictor_config.get_config()
  p_config.update(use_discriminator=False, learning_rate=3e-3, adam_b1=0.9, data_dir=str(root / "no_data"))
  p_task, p_state = train_yaw_predictor(p_config)
  r_config = tiny_reenactor_config()
  r_task = ReenactorTask(r_config, steps_per_epoch=1)
  return {"predictor": save_workdir(root / "predictor", p_config, p_task, p_state),
          "reenactor": save_workdir(root / "reenactor", r_config, r_task, r_task.create_state(jax.random.key(1)))}



def fixed_batch(n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
  """A random predictor batch (features, landmarks and reference landmarks)."""
  rng = np.random.default_rng(seed)
  return {
      "mfcc": rng.normal(size=(n, 64, 60)).astype(np.float32),
      "pose": rng.uniform(-0.3, 0.3, size=(n, 3)).astype(np.float32),
      "blink": rng.uniform(0.1, 0.4, size=(n, 2)).astype(np.float32),
      "landmarks": rng.uniform(60, 200, size=(n, 106, 2)).astype(np.float32),
      "ref_landmarks": rng.uniform(60, 200, size=(n, 106, 2)).astype(np.float32),
  }


def run_steps(task, mesh, batch: dict, steps: int):
  """`steps` jitted train steps of any trainer Task on `mesh`: (final state, metrics per step)."""
  import jax  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train import parallel  # pylint: disable=g-import-not-at-top
  state = parallel.replicate(task.create_state(jax.random.key(0)), mesh)
  step_fn = jax.jit(task.train_step, in_shardings=(parallel.replicated(mesh), parallel.data_sharded(mesh),
                                                   parallel.replicated(mesh)))
  history = []
  for i in range(steps):
    state, metrics = step_fn(state, parallel.shard_batch(batch, mesh), jax.random.key(i))
    history.append(jax.device_get(metrics))
  return state, history


def write_legacy(path: Path, obj: object) -> None:
  """A legacy-format torch.save file written by hand (protocol 2, as torch)."""
  import pickle  # pylint: disable=g-import-not-at-top  (writes a test fixture, never reads)
  from apb2face_jax.data import torch_save  # pylint: disable=g-import-not-at-top
  with open(path, "wb") as f:
    for part in (torch_save.LEGACY_MAGIC, torch_save.LEGACY_PROTOCOL, {"little_endian": True}):
      pickle.dump(part, f, protocol=2)
    pickle.dump(obj, f, protocol=2)
    pickle.dump([], f, protocol=2)


def speech_like(seconds: float, sr: int, seed: int = 0) -> np.ndarray:
  """Voiced bursts (harmonics, syllable-rate envelope) over a noise floor: no near-silent stretch."""
  rng = np.random.default_rng(seed)
  t = np.arange(int(seconds * sr)) / sr
  envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2
  voiced = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((150, 300, 450, 900), start=1))
  return (0.2 * envelope * voiced + 0.01 * rng.normal(size=t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
  """A 2 s speech-like file, stereo at 22.05 kHz."""
  import soundfile  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp("audio") / "speech.wav"
  y = speech_like(2.0, 22050)
  soundfile.write(path, np.stack([y, 0.5 * y], axis=1), 22050)  # stereo at another rate
  return path


def make_config(workdirs, audio_path, output, **overrides):
  """configs/generate.py for the tiny workdirs: `audio_path` -> `output`."""
  from configs import generate as generate_config  # pylint: disable=g-import-not-at-top
  c = generate_config.get_config()
  c.update({"audio": str(audio_path), "predictor_workdir": str(workdirs["predictor"]),
            "reenactor_workdir": str(workdirs["reenactor"]), "output": str(output), "batch_size": 8, **overrides})
  return c


def probe(path: Path) -> str:
  """ffmpeg's description of the file's streams."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, check=False)
  return result.stderr


@pytest.fixture(scope="module")
def served(workdirs, tmp_path_factory):
  """The app on a free local port: (App, page, url); Gradio's uploads and cache under pytest's tree."""
  import portpicker  # pylint: disable=g-import-not-at-top
  from apb2face_jax.app import page as app_lib  # pylint: disable=g-import-not-at-top
  from configs import app as app_config  # pylint: disable=g-import-not-at-top

  saved = os.environ.get("GRADIO_TEMP_DIR")
  os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
  config = app_config.get_config()
  config.update(predictor_workdir=str(workdirs["predictor"]), reenactor_workdir=str(workdirs["reenactor"]),
                port=portpicker.pick_unused_port(), batch_size=8, max_audio_seconds=5.0, max_upload_mb=1)
  app, page, url = app_lib.launch(config, block=False)
  yield app, page, url
  page.close()
  app.close()
  if saved is None:
    os.environ.pop("GRADIO_TEMP_DIR")
  else:
    os.environ["GRADIO_TEMP_DIR"] = saved


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
