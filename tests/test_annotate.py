"""Tests of the offline annotator (apb2face_jax.annotate).

The layout, pose, blink and format tests need only numpy and OpenCV and run in
the main venv; the detector tests need MediaPipe and run in the annotator's venv
(tools/annotate-requirements.txt), skipped elsewhere.
"""

from pathlib import Path

import cv2
import numpy as np
import pytest

from apb2face_jax.data import annvi_format
from apb2face_jax.annotate import blink
from apb2face_jax.annotate import layout106
from apb2face_jax.annotate import pipeline
from apb2face_jax.annotate import pose
from apb2face_jax.data.layout import NUM_POINTS
from apb2face_jax.errors import UserError

SAMPLE = Path(__file__).resolve().parents[1] / 'tfds_annvi' / 'sample'


def _sample_annotations() -> list[annvi_format.FrameAnnotation]:
  text = (SAMPLE / 'landmark' / 'carphone.txt').read_text()
  return [annvi_format.parse_line(line) for line in text.splitlines()]


def _upright(points: np.ndarray, roll: float) -> np.ndarray:
  """Undoes the in-image head tilt, so 'above' means above in the face."""
  c, s = np.cos(roll), np.sin(roll)
  return points @ np.array([[c, -s], [s, c]])


# --- 106-point layout --------------------------------------------------------

def test_layout_table_is_complete_and_normalised():
  assert len(layout106.SOURCES) == NUM_POINTS
  for source in layout106.SOURCES:
    assert sum(weight for _, weight in source) == pytest.approx(1.0)
    assert all(0 <= vertex < layout106.NUM_MESH_REFINED for vertex, _ in source)
  assert layout106.SOURCES[104] == ((468, 1.0),)


def test_layout_index_groups():
  assert layout106.CONTOUR == tuple(range(33))
  assert layout106.FACE_MASK_POLYGON == tuple(range(33)) + (41, 40, 39, 38, 37, 36, 35, 34)
  assert layout106.MOUTH_OPEN == (98, 102)
  assert layout106.NOSE_TIP == 46
  assert sorted(layout106.BROWS) == list(range(33, 43)) + list(range(64, 72))
  assert sorted(layout106.LEFT_EYE) == [52, 53, 54, 55, 56, 57, 72, 73]
  assert sorted(layout106.RIGHT_EYE) == [58, 59, 60, 61, 62, 63, 75, 76]
  assert layout106.OUTER_LIPS == tuple(range(84, 96))
  assert layout106.INNER_LIPS == tuple(range(96, 104))


def test_from_facemesh_is_the_weighted_sum():
  rng = np.random.default_rng(0)
  mesh = rng.uniform(0, 100, (478, 3))
  points = layout106.from_facemesh(mesh)
  assert points.shape == (106, 2)
  np.testing.assert_allclose(points[46], mesh[1, :2])  # nose tip = vertex 1
  np.testing.assert_allclose(points[104], mesh[468, :2])  # left pupil = iris 468
  np.testing.assert_allclose(points[74], mesh[[33, 133, 159, 145], :2].mean(0))


def test_from_facemesh_without_iris_uses_eye_centres():
  mesh = np.random.default_rng(1).uniform(0, 100, (468, 2))
  points = layout106.from_facemesh(mesh)
  np.testing.assert_allclose(points[104], points[74])
  np.testing.assert_allclose(points[105], points[77])
  with pytest.raises(ValueError):
    layout106.from_facemesh(np.zeros((100, 2)))


def test_layout_order_on_the_real_sample():
  """Where the points fall on a real face: the order the layout documents."""
  for annotation in _sample_annotations()[::10]:
    p = _upright(annotation.points, annotation.pose[1])
    x, y = p[:, 0], p[:, 1]
    assert x[0] < x[16] < x[32]  # contour runs left to right over the chin
    assert y[16] == y[:33].max()  # chin lowest
    assert np.all(np.diff(x[33:38]) > 0) and np.all(np.diff(x[38:43]) > 0)
    assert y[33:38].max() < y[[52, 53, 54, 55, 72]].min()  # brows above eyes
    assert y[38:43].max() < y[[58, 59, 60, 61, 75]].min()
    assert y[35] < y[65] and y[40] < y[70]  # brow top over brow bottom
    assert x[52] < x[55] < x[58] < x[61]  # left eye left of right eye
    assert y[72] < y[73] and y[75] < y[76]  # upper lid over lower lid
    assert y[43] < y[46] < y[49] < y[87]  # bridge, tip, septum, upper lip
    assert x[84] < x[87] < x[90] and y[87] < y[98] <= y[102] < y[93]
    assert x[52] < x[104] < x[55] and x[58] < x[105] < x[61]  # pupils in the eyes


# --- head pose ---------------------------------------------------------------

def _project(angles: tuple[float, float, float], width: int = 176, height: int = 144,
             distance: float = 60.0) -> np.ndarray:
  """A FaceMesh-sized array with the 3D mean face projected at the given pose."""
  rotation = pose.rotation_from_euler(*angles)
  camera = rotation @ pose.MODEL_POINTS.T + np.array([[1.0], [-2.0], [distance]])
  pixels = pose.camera_matrix(width, height) @ camera
  mesh = np.full((478, 2), np.nan)
  mesh[pose.MODEL_VERTICES] = (pixels[:2] / pixels[2]).T
  return mesh


@pytest.mark.parametrize('angles', [
    (0.0, 0.0, 0.0), (0.3, -0.1, 0.2), (-0.35, 0.5, -0.35), (0.1, -0.5, 0.19)])
def test_pose_recovers_projected_angles(angles):
  estimate = pose.estimate_pose(_project(angles), 176, 144)
  np.testing.assert_allclose(estimate, angles, atol=1e-4)


def test_pose_signs():
  """Documented signs: yaw>0 nose right, pitch>0 nose up, roll>0 right eye down."""
  def nose_offset(angles):
    mesh = _project(angles)
    return mesh[1] - mesh[[33, 263]].mean(0)  # nose tip relative to the eyes
  frontal = nose_offset((0.0, 0.0, 0.0))
  assert nose_offset((0.0, 0.0, 0.2))[0] > frontal[0]
  assert nose_offset((0.2, 0.0, 0.0))[1] < frontal[1]
  tilted = _project((0.0, 0.2, 0.0))
  assert tilted[263, 1] > tilted[33, 1]


def test_euler_round_trip():
  for angles in [(0.2, -0.4, 0.3), (-0.3, 0.1, -0.2)]:
    rotation = pose.rotation_from_euler(*angles)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(pose.euler_from_rotation(rotation), angles, atol=1e-12)


def test_pose_fit_failure_is_none():
  assert pose.estimate_pose(np.full((478, 2), np.nan), 176, 144) is None


# --- blink ------------------------------------------------------------------

def _eyes(height: float, scale: float = 1.0) -> np.ndarray:
  points = np.zeros((106, 2))
  points[[52, 55]] = [[0.0, 0.0], [10.0, 0.0]]
  points[[72, 73]] = [[5.0, -height / 2], [5.0, height / 2]]
  points[[58, 61]] = [[20.0, 0.0], [30.0, 0.0]]
  points[[75, 76]] = [[25.0, -1.0], [25.0, 1.0]]
  return points * scale


def test_blink_ratio():
  np.testing.assert_allclose(blink.eye_ratios(_eyes(3.0)), [0.3, 0.2])
  np.testing.assert_allclose(blink.eye_ratios(_eyes(3.0, scale=7.5)), [0.3, 0.2])
  np.testing.assert_allclose(blink.eye_ratios(_eyes(0.0)), [0.0, 0.2])
  assert np.isnan(blink.eye_ratios(np.zeros((106, 2)))).all()


def test_sample_blinks_dip_at_the_two_blinks():
  eyes = np.array([a.blink for a in _sample_annotations()]).mean(1)
  assert eyes[42] < 0.15 and eyes[92] < 0.2  # the clip's two blinks
  assert np.median(eyes) > 0.3


# --- text formats -----------------------------------------------------------

def test_line_round_trip():
  rng = np.random.default_rng(2)
  annotation = annvi_format.FrameAnnotation(
      frame=17, width=176, height=144,
      points=rng.uniform(-5.0, 180.0, (106, 2)),  # some off the frame: negative
      pose=np.array([0.1, -0.52, 0.33]), blink=np.array([0.31, 0.08]))
  line = annvi_format.format_line(annotation)
  assert line.startswith('17.jpg 176-144 ') and len(line.split()) == 113
  parsed = annvi_format.parse_line(line)
  assert (parsed.frame, parsed.width, parsed.height) == (17, 176, 144)
  np.testing.assert_allclose(parsed.points, annotation.points, atol=5e-4)
  np.testing.assert_allclose(parsed.pose, annotation.pose, atol=5e-7)
  np.testing.assert_allclose(parsed.blink, annotation.blink, atol=5e-7)


def test_negative_pair_parses():
  fields = ['3.jpg', '10-20'] + ['-1.500--2.250'] * 106 + ['0'] * 5
  parsed = annvi_format.parse_line(' '.join(fields))
  np.testing.assert_allclose(parsed.points[0], [-1.5, -2.25])


@pytest.mark.parametrize('line', [
    '', 'x.jpg 1-2', '0.jpg 1-2 ' + '1-2 ' * 105,
    '0.jpg 176-144 ' + '1-2 ' * 106 + '0 0 nan 0 0',
    '0.jpg 176-144 ' + '1+2 ' * 106 + '0 0 0 0 0'])
def test_bad_line_is_a_user_error(line):
  with pytest.raises(UserError):
    annvi_format.parse_line(line)


def test_ranges():
  ranges = annvi_format.frame_ranges([9, 0, 1, 2, 5, 6, 2])
  assert ranges == [(0, 2), (5, 6), (9, 9)]
  text = annvi_format.format_ranges(ranges)
  assert text == '0 2\n5 6\n9 9\n'
  assert annvi_format.parse_ranges(text) == ranges
  assert annvi_format.frame_ranges([]) == []
  with pytest.raises(UserError):
    annvi_format.parse_ranges('5 2\n')
  with pytest.raises(UserError):
    annvi_format.parse_ranges('1 2 3\n')


def test_sample_files_agree():
  annotations = _sample_annotations()
  ranges = annvi_format.parse_ranges((SAMPLE / 'label' / 'carphone.txt').read_text())
  labelled = [f for left, right in ranges for f in range(left, right + 1)]
  assert labelled == [a.frame for a in annotations]
  assert all((a.width, a.height) == (176, 144) for a in annotations)
  poses = np.array([a.pose for a in annotations])
  assert np.all(np.abs(poses) < 0.7)  # about AnnVI's ranges (|angle| <= 0.51)


# --- pipeline ---------------------------------------------------------------

def test_annotate_frame_without_face_or_fit():
  assert pipeline.annotate_frame(0, None, 176, 144) == pipeline.NO_FACE
  assert pipeline.annotate_frame(0, np.full((478, 3), np.nan), 176, 144) == \
      pipeline.POSE_FAILED


@pytest.mark.parametrize('identity', ['', 'a/b', '../x', '.', '-x', 'a b', 'a.b'])
def test_bad_id_is_a_user_error(tmp_path, identity):
  with pytest.raises(UserError, match='--id'):
    pipeline.annotate_video(SAMPLE / 'video' / 'carphone.mp4', tmp_path, identity)


def test_missing_or_bad_inputs_are_user_errors(tmp_path):
  video = SAMPLE / 'video' / 'carphone.mp4'
  with pytest.raises(UserError, match='does not exist'):
    pipeline.annotate_video(tmp_path / 'none.mp4', tmp_path, 'a')
  with pytest.raises(UserError, match='not an .mp4'):
    pipeline.annotate_video(tmp_path / 'clip.avi', tmp_path, 'a')
  with pytest.raises(UserError, match='audio file'):
    pipeline.annotate_video(video, tmp_path, 'a', audio=tmp_path / 'none.wav')
  garbage = tmp_path / 'garbage.mp4'
  garbage.write_bytes(b'not a video' * 100)
  with pytest.raises(UserError, match='cannot be decoded'):
    pipeline.annotate_video(garbage, tmp_path, 'a')


# --- with the detector (annotator venv only) ---------------------------------

def test_annotating_the_sample_video_reproduces_the_sample(tmp_path):
  pytest.importorskip('mediapipe')
  report = pipeline.annotate_video(SAMPLE / 'video' / 'carphone.mp4', tmp_path,
                                   'carphone', audio=SAMPLE / 'audio' / 'carphone.wav',
                                   show_progress=False)
  assert report.frames == 120 and not report.dropped
  assert (tmp_path / 'audio' / 'carphone.wav').read_bytes() == \
      (SAMPLE / 'audio' / 'carphone.wav').read_bytes()
  assert (tmp_path / 'label' / 'carphone.txt').read_text() == '0 119\n'
  new = [annvi_format.parse_line(line)
         for line in (tmp_path / 'landmark' / 'carphone.txt').read_text().splitlines()]
  for got, want in zip(new, _sample_annotations(), strict=True):
    np.testing.assert_allclose(got.points, want.points, atol=0.5)
    np.testing.assert_allclose(got.pose, want.pose, atol=0.02)


def test_video_without_face_is_a_user_error(tmp_path):
  pytest.importorskip('mediapipe')
  video = tmp_path / 'blank.mp4'
  writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 25, (96, 96))
  for _ in range(5):
    writer.write(np.full((96, 96, 3), 128, np.uint8))
  writer.release()
  audio = tmp_path / 'speech.wav'
  audio.write_bytes((SAMPLE / 'audio' / 'carphone.wav').read_bytes())
  with pytest.raises(UserError, match='no usable face'):
    pipeline.annotate_video(video, tmp_path / 'out', 'blank', audio=audio,
                            show_progress=False)
  assert not (tmp_path / 'out' / 'landmark').exists()


def test_video_without_audio_track_needs_audio(tmp_path):
  pytest.importorskip('mediapipe')
  pytest.importorskip('imageio_ffmpeg')
  with pytest.raises(UserError, match='--audio'):
    pipeline.annotate_video(SAMPLE / 'video' / 'carphone.mp4', tmp_path, 'carphone',
                            show_progress=False)


def test_command_line_reports_user_errors(tmp_path, capsys):
  from apb2face_jax.annotate.__main__ import main  # pylint: disable=g-import-not-at-top
  assert main([str(tmp_path / 'none.mp4'), '--root', str(tmp_path), '--id', 'a']) == 2
  assert capsys.readouterr().err.startswith('error: video ')
