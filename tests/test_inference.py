"""Loading trained networks from their workdirs: predict, render, and the refusals."""

import shutil

import jax
import numpy as np
import pytest

from apb2face_jax import inference
from apb2face_jax.errors import UserError
from apb2face_jax.models.checkpoints import CONFIG_FILE
from apb2face_jax.train.predictor_task import PredictorTask
from apb2face_jax.train.reenactor_task import ReenactorTask
from configs import predictor as predictor_config
from tests.conftest import TINY_SIZE as SIZE, save_workdir, tiny_reenactor_config


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
  expected = np.asarray(predict.model.predict(predict.params, batch)).reshape(rows, 106, 2)
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


def test_a_checkpoint_without_a_record_is_rebuilt_from_its_config(workdirs, tmp_path, capsys):
  r_config = tiny_reenactor_config()
  r_task = ReenactorTask(r_config, steps_per_epoch=1)
  old = save_workdir(tmp_path / "old", r_config, r_task, record=False)
  render = inference.load_reenactor(old)
  assert "predates checkpoint records" in capsys.readouterr().out
  assert render.model.settings == r_task.model.settings and render.record["data"]["fps"] is None
  (old / CONFIG_FILE).unlink()
  with pytest.raises(UserError, match="records no model settings and the workdir holds no config.json"):
    inference.load_reenactor(old)
  (old / CONFIG_FILE).write_text("{not json")
  with pytest.raises(UserError, match="is not a valid run config"):
    inference.load_reenactor(old)


def test_a_recorded_checkpoint_needs_no_config(workdirs, tmp_path):
  moved = tmp_path / "moved"
  shutil.copytree(workdirs["predictor"], moved)
  (moved / CONFIG_FILE).unlink()
  predict = inference.load_predictor(moved)
  assert predict.mfcc_mode == "corrected" and predict.data["fps"] == 30.0


def test_another_landmark_count_or_image_size_is_refused(workdirs, tmp_path):
  p_config = predictor_config.get_config()
  p_task = PredictorTask(p_config, steps_per_epoch=1)
  other_points = save_workdir(tmp_path / "p68", p_config, p_task, p_task.create_state(jax.random.key(0)),
                              meta={**p_task.meta(), "num_points": 68})
  with pytest.raises(UserError, match="num_points: checkpoint has 68"):
    inference.load_predictor(other_points)
  r_config = tiny_reenactor_config()
  r_task = ReenactorTask(r_config, steps_per_epoch=1)
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
  with pytest.raises(UserError, match="no checkpoint"):
    inference.load_predictor(tmp_path)
  with pytest.raises(UserError, match="checkpoint='newest' is not valid"):
    inference.load_predictor(tmp_path, "newest")
