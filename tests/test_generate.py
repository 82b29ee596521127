"""Speech -> MP4 on tiny models: frame count, audio stream, streaming, control, bad input."""

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile

from apb2face_jax.data import audio
from apb2face_jax.inference import generate, pose_blink
from apb2face_jax import inference, jobs
from apb2face_jax.errors import UserError
from tests.conftest import TINY_DATA, make_config, probe, save_workdir, speech_like

FPS = TINY_DATA["fps"]  # generation takes the frame rate the predictor's checkpoint records


def test_mp4_lasts_as_long_as_the_audio_and_carries_it(workdirs, speech, tmp_path):  # noqa: F811
  output = tmp_path / "out" / "talk.mp4"
  result = jobs.run(make_config(workdirs, speech, output, side_by_side=True), workdir=None)
  frames, _ = imageio_ffmpeg.count_frames_and_secs(str(output))
  expected = 2.0 * FPS
  assert abs(frames - expected) <= 1 and result["frames"] == frames
  streams = probe(output)
  assert "Video: h264" in streams and "Audio: aac" in streams
  assert "64x32" in streams  # side by side: landmark image | face, 32x32 each
  assert sorted(p.name for p in output.parent.iterdir()) == ["talk.mp4"]  # no temporary file left


def test_an_error_midway_leaves_no_partial_mp4(workdirs, speech, tmp_path, monkeypatch):  # noqa: F811
  calls = []

  def failing(self, *args):
    calls.append(1)
    if len(calls) > 2:
      raise RuntimeError("device lost")
    return original(self, *args)

  original = generate.Generator._dispatch
  monkeypatch.setattr(generate.Generator, "_dispatch", failing)
  with pytest.raises(UserError):
    generate.run(make_config(workdirs, speech, tmp_path / "talk.mp4"))
  assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (a folder no file can be made in)")
def test_an_output_folder_that_takes_no_file_is_named(workdirs, speech):  # noqa: F811
  with pytest.raises(UserError, match=r"cannot write /proc/talk.mp4 \(.*\): give an output path in a writable"):
    generate.run(make_config(workdirs, speech, Path("/proc/talk.mp4")))


def test_streaming_equals_one_call_and_compiles_once(workdirs):  # noqa: F811
  predictor = inference.load_predictor(workdirs["predictor"])
  gen = generate.Generator(predictor, inference.load_reenactor(workdirs["reenactor"]), batch_size=4)
  y = speech_like(1.5, audio.SAMPLE_RATE, seed=1)
  natural = pose_blink.NaturalMotion()
  pose = natural.pose_track(generate.DEFAULT_CENTRE, FPS, seed=0)
  blink = natural.blink_track(generate.DEFAULT_CENTRE, FPS, seed=0)
  whole = list(gen.stream([y], pose, blink, FPS))
  cuts = np.sort(np.random.default_rng(0).choice(y.size, 12, replace=False))
  streamed = list(gen.stream(np.split(y, cuts), pose, blink, FPS))
  assert len(whole) == len(streamed) == int(y.size * FPS / audio.SAMPLE_RATE)
  assert [f.index for f in streamed] == list(range(len(whole)))
  np.testing.assert_allclose(np.stack([f.landmarks for f in streamed]), np.stack([f.landmarks for f in whole]),
                             atol=1e-3)
  assert max(np.abs(a.face.astype(int) - b.face.astype(int)).max() for a, b in zip(whole, streamed)) <= 1
  assert gen.compiled_shapes() == 1


@pytest.mark.parametrize("mode", audio.MFCC_MODES)
def test_streaming_features_equal_whole_file_features(mode):
  y = speech_like(1.2, audio.SAMPLE_RATE, seed=2)
  features = generate.StreamingFeatures(mode)
  for chunk in np.array_split(y, 9):
    features.push(chunk)
    assert features.frames_ready(FPS) <= int(features.n_samples * FPS / audio.SAMPLE_RATE)
  features.finish()
  np.testing.assert_allclose(features.features, audio.mfcc_features(y, mode=mode), rtol=1e-4, atol=1e-3)


def test_yaw_sweep_moves_the_nose_tip_right(workdirs):  # noqa: F811
  gen = generate.Generator(inference.load_predictor(workdirs["predictor"]),
                           inference.load_reenactor(workdirs["reenactor"]), batch_size=8)
  n = 8
  yaw = np.linspace(-0.35, 0.2, n)  # AnnVI's yaw range (docs/paper_and_code.md §5)
  pose = np.zeros((n, 3), np.float32)
  pose[:, 2] = yaw  # stored order: pitch, roll, yaw
  window = np.random.default_rng(3).normal(size=(1, 64, 60))
  frames = gen(np.repeat(window, n, axis=0), pose, np.full((n, 2), 0.3))
  nose_x = np.array([f.landmarks[46, 0] for f in frames])  # layout106.NOSE_TIP
  assert np.all(np.diff(nose_x) > 0), nose_x


def test_natural_motion_is_smooth_seeded_in_range_and_blinks():
  natural, centre = pose_blink.NaturalMotion(), generate.DEFAULT_CENTRE
  frames = np.arange(int(60 * FPS))
  pose = natural.pose_track(centre, FPS, seed=0)(frames)
  assert np.all(pose >= pose_blink.ANNVI_POSE_RANGE[:, 0]) and np.all(pose <= pose_blink.ANNVI_POSE_RANGE[:, 1])
  assert np.abs(np.diff(pose, axis=0)).max() < 0.01  # smooth: under 0.01 rad per frame
  assert pose[:, 2].std() > 0.02  # it moves
  np.testing.assert_array_equal(natural.pose_track(centre, FPS, seed=0)(frames[:100]), pose[:100])
  blink_track = natural.blink_track(centre, FPS, seed=0)
  blink = np.concatenate([blink_track(frames[i:i + 7]) for i in range(0, len(frames), 7)])  # chunked
  np.testing.assert_allclose(natural.blink_track(centre, FPS, seed=0)(frames), blink)
  closed = blink[:, 0] < (centre.eye_open[0] + centre.eye_closed[0]) / 2
  blinks = np.sum(np.diff(closed.astype(int)) == 1)
  assert 8 <= blinks <= 30  # about 17 a minute
  assert not np.array_equal(natural.pose_track(centre, FPS, seed=1)(frames), pose)


def test_constants_csv_and_recorded_tracks(tmp_path):
  centre = generate.DEFAULT_CENTRE
  track = pose_blink.parse_track("yaw=0.2, pitch=-0.1", "pose", fps=FPS, seed=0, centre=centre)
  np.testing.assert_allclose(track(np.arange(3)), [[-0.1, 0.0, 0.2]] * 3, rtol=1e-6)
  csv = tmp_path / "track.csv"
  csv.write_text("yaw,pitch,roll,blink_left,blink_right\n0.1,0,0,0.3,0.2\n0.2,0,0,0.1,0.1\n")
  np.testing.assert_allclose(pose_blink.parse_track(str(csv), "blink", fps=FPS, seed=0, centre=centre)(
      np.array([1, 0])), [[0.1, 0.1], [0.3, 0.2]], rtol=1e-6)
  with pytest.raises(UserError, match="has 2 frames but frame 2 is needed"):
    pose_blink.parse_track(str(csv), "pose", fps=FPS, seed=0, centre=centre)(np.arange(3))
  columns = {"pose": np.arange(12, dtype=np.float32).reshape(4, 3), "frame": np.array([3, 1, 2, 0]),
             "blink": np.zeros((4, 2))}
  values = pose_blink.recorded(columns, np.zeros(4, int), ["carphone"], "carphone", "pose", "the data")
  np.testing.assert_array_equal(values[:, 0], [9, 3, 6, 0])  # in frame order
  np.testing.assert_array_equal(pose_blink.looped_track(values)(np.arange(8))[:, 0], [9, 3, 6, 0, 6, 3, 9, 3])
  with pytest.raises(UserError, match="'woman1' is not in the data"):
    pose_blink.recorded(columns, np.zeros(4, int), ["carphone"], "woman1", "pose", "the data")
  with pytest.raises(UserError, match="not available here"):
    pose_blink.parse_track("dataset:carphone", "pose", fps=FPS, seed=0, centre=centre)


@pytest.mark.parametrize("content, message", [
    ("", "holds no data rows"),
    ("pitch,roll\n0,0\n", "lacks the column"),
    ("pitch,roll,yaw\n0,0,zero\n", "line 2: .* not a number"),
    ("pitch,roll,yaw\n0,0\n", "line 2: 2 fields"),
    ("pitch,roll,yaw\n0,nan,0\n", "NaN"),
])
def test_malformed_csv_is_one_clear_error(tmp_path, content, message):
  path = tmp_path / "track.csv"
  path.write_text(content)
  with pytest.raises(UserError, match=message):
    pose_blink.parse_track(str(path), "pose", fps=FPS, seed=0, centre=generate.DEFAULT_CENTRE)


def _write_bad(kind: str, path: Path) -> Path:
  if kind == "empty":
    path.write_bytes(b"")
  elif kind == "unreadable":
    path.write_text("this is not audio\n" * 50)
  elif kind == "silent":
    soundfile.write(path, np.zeros(16000, np.float32), 16000)
  else:  # very short
    soundfile.write(path, speech_like(0.2, 16000), 16000)
  return path


@pytest.mark.parametrize("kind, message", [
    ("empty", "is empty"), ("unreadable", "could not be decoded"), ("silent", "is silent"),
    ("short", "shorter than config.min_audio_seconds"),
])
def test_bad_audio_is_one_clear_error_and_writes_nothing(workdirs, tmp_path, kind, message):  # noqa: F811
  bad = _write_bad(kind, tmp_path / "bad.wav")
  with pytest.raises(UserError, match=message):
    generate.run(make_config(workdirs, bad, tmp_path / "out.mp4"))
  assert not (tmp_path / "out.mp4").exists()


def test_bad_config_values(workdirs, speech, tmp_path):  # noqa: F811
  with pytest.raises(UserError, match="must end with .mp4"):
    generate.run(make_config(workdirs, speech, tmp_path / "out.avi"))
  (tmp_path / "a_file").write_text("")
  with pytest.raises(UserError, match="output folder .*a_file is a file, not a folder"):
    generate.run(make_config(workdirs, speech, tmp_path / "a_file" / "out.mp4"))
  (tmp_path / "a_file").unlink()
  with pytest.raises(UserError, match="config.reenactor_workdir is required"):
    generate.run(make_config(workdirs, speech, tmp_path / "out.mp4", reenactor_workdir=""))
  with pytest.raises(UserError, match="'nose' is not a pose value"):
    generate.run(make_config(workdirs, speech, tmp_path / "out.mp4", pose="nose=1"))
  with pytest.raises(UserError, match="holds a 'predictor' run"):
    generate.run(make_config(workdirs, speech, tmp_path / "out.mp4", reenactor_workdir=str(workdirs["predictor"])))
  assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_without_its_record_still_generates_with_the_defaults(workdirs, speech, tmp_path, capsys):
  from apb2face_jax.train.predictor_task import PredictorTask  # pylint: disable=g-import-not-at-top
  from configs import predictor as predictor_config  # pylint: disable=g-import-not-at-top
  config = predictor_config.get_config()
  old = save_workdir(tmp_path / "old", config, PredictorTask(config, steps_per_epoch=1), record=False)
  result = generate.run(make_config({**workdirs, "predictor": old}, speech, tmp_path / "old.mp4"))
  out = capsys.readouterr().out
  assert "predates checkpoint records" in out and "records no frame rate" in out
  assert result["fps"] == generate.DEFAULT_FPS


def test_the_signal_centre_comes_from_the_checkpoint(workdirs):
  centre = generate.centre_of(inference.load_predictor(workdirs["predictor"]).data)
  np.testing.assert_allclose(centre.pose, TINY_DATA["centre"]["pose"])
  np.testing.assert_allclose(centre.eye_closed, TINY_DATA["centre"]["eye_closed"])
