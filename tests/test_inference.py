"""Loading trained networks from their workdirs: predict, render, and the refusals."""

import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from apb2face_jax import inference
from apb2face_jax.train.checkpoint import Checkpoints
from apb2face_jax.errors import UserError
from apb2face_jax.train.predictor_task import PredictorTask
from apb2face_jax.train.reenactor_task import ReenactorTask
from apb2face_jax.train.trainer import CONFIG_FILE
from configs import predictor as predictor_config
from configs import reenactor as reenactor_config

SIZE = 32  # the tiny reenactor's image size


def tiny_reenactor_config():
  c = reenactor_config.get_config()
  c.update(image_size=SIZE, ngf=4, ndf=4, batch_size=2)
  c.generator_kwargs.n_blocks = 1
  return c


def save_workdir(workdir: Path, config, task, state, meta: dict | None = None) -> Path:
  """A training workdir as launch.py leaves it: config.json + one checkpoint."""
  workdir.mkdir(parents=True, exist_ok=True)
  (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=2))
  ckpts = Checkpoints(workdir, meta or task.meta(), async_save=False)
  ckpts.save(int(state.step), state)
  ckpts.close()
  return workdir


def train_yaw_predictor(config, steps: int = 60, batch: int = 8):
  """A predictor trained for seconds (L1 only) on synthetic data whose landmarks move right with yaw."""
  task = PredictorTask(config, train=None, steps_per_epoch=1000)
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
  root = tmp_path_factory.mktemp("runs")
  p_config = predictor_config.get_config()
  p_config.update(use_discriminator=False, learning_rate=3e-3, adam_b1=0.9, data_dir=str(root / "no_data"))
  p_task, p_state = train_yaw_predictor(p_config)
  r_config = tiny_reenactor_config()
  r_task = ReenactorTask(r_config, train=None, steps_per_epoch=1)
  return {"predictor": save_workdir(root / "predictor", p_config, p_task, p_state),
          "reenactor": save_workdir(root / "reenactor", r_config, r_task, r_task.create_state(jax.random.key(1)))}


def test_predict_and_render_shapes_and_ranges(workdirs):
  predict = inference.load_predictor(workdirs["predictor"])
  landmarks = predict(np.zeros((3, 64, 60)), np.zeros((3, 3)), np.full((3, 2), 0.3))
  assert landmarks.shape == (3, 106, 2) and np.all(np.isfinite(landmarks))
  render = inference.load_reenactor(workdirs["reenactor"])
  faces = np.asarray(render(-np.ones((2, SIZE, SIZE, 3))))
  assert faces.shape == (2, SIZE, SIZE, 3) and faces.min() >= -1 and faces.max() <= 1
  assert render.draw(landmarks).shape == (3, SIZE, SIZE, 3)


def test_predict_matches_the_task_forward(workdirs):
  predict = inference.load_predictor(workdirs["predictor"])
  rows = inference.CPU_PREDICTOR_CHUNK * 2 + 5  # runs in chunks on CPU, the last one padded
  rng = np.random.default_rng(1)
  batch = {"mfcc": rng.normal(size=(rows, 64, 60)).astype(np.float32), "pose": np.zeros((rows, 3), np.float32),
           "blink": np.full((rows, 2), 0.3, np.float32)}
  expected = np.asarray(predict.task.predict(predict.params, batch)).reshape(rows, 106, 2)
  np.testing.assert_allclose(predict(batch["mfcc"], batch["pose"], batch["blink"]), expected, rtol=1e-5, atol=1e-4)


def test_map_in_chunks_equals_one_call():
  arrays = {"x": np.arange(30.0).reshape(10, 3), "y": np.arange(10.0)}
  fn = lambda b: b["x"] * b["y"][:, None] + 1.0  # noqa: E731  (row-wise, as the predictor)
  for chunk in (0, 3, 5, 10, 16):
    out = inference.map_in_chunks(fn, arrays, chunk)
    assert out.shape == (10, 3)
    np.testing.assert_allclose(out, fn(arrays))


def test_the_other_networks_workdir_is_refused(workdirs):
  with pytest.raises(UserError, match="holds a 'predictor' run, not a reenactor"):
    inference.load_reenactor(workdirs["predictor"])
  with pytest.raises(UserError, match="holds a 'reenactor' run, not a predictor"):
    inference.load_predictor(workdirs["reenactor"])


def test_a_config_that_lies_about_the_job_is_caught_by_the_checkpoint_meta(workdirs, tmp_path):
  fake = tmp_path / "fake"
  shutil.copytree(workdirs["reenactor"], fake)
  config = json.loads((fake / CONFIG_FILE).read_text())
  (fake / CONFIG_FILE).write_text(json.dumps({**predictor_config.get_config().to_dict(), "seed": config["seed"]}))
  with pytest.raises(UserError, match="does not fit this job"):
    inference.load_predictor(fake)


def test_another_landmark_count_or_image_size_is_refused(workdirs, tmp_path):
  p_config = predictor_config.get_config()
  p_task = PredictorTask(p_config, train=None, steps_per_epoch=1)
  other_points = save_workdir(tmp_path / "p68", p_config, p_task, p_task.create_state(jax.random.key(0)),
                              meta={**p_task.meta(), "num_points": 68})
  with pytest.raises(UserError, match="num_points: checkpoint has 68"):
    inference.load_predictor(other_points)
  r_config = tiny_reenactor_config()
  r_task = ReenactorTask(r_config, train=None, steps_per_epoch=1)
  other_size = save_workdir(tmp_path / "r64", r_config, r_task, r_task.create_state(jax.random.key(0)),
                            meta={**r_task.meta(), "image_size": 64})
  with pytest.raises(UserError, match="image_size: checkpoint has 64"):
    inference.load_reenactor(other_size)
  render = inference.load_reenactor(workdirs["reenactor"])
  with pytest.raises(UserError, match="trained at 32x32"):
    render(np.zeros((1, 64, 64, 3)))


def test_missing_workdir_config_or_checkpoint(tmp_path):
  with pytest.raises(UserError, match="does not exist"):
    inference.load_predictor(tmp_path / "nowhere")
  with pytest.raises(UserError, match="holds no config.json"):
    inference.load_predictor(tmp_path)
  (tmp_path / CONFIG_FILE).write_text(predictor_config.get_config().to_json_best_effort())
  with pytest.raises(UserError, match="no checkpoint"):
    inference.load_predictor(tmp_path)
