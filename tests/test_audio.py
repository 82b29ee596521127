"""Tests for apb2face_jax.data.audio: loading, MFCC deltas, per-frame windows."""

import numpy as np
import pytest
import soundfile

from apb2face_jax.data import audio
from apb2face_jax.errors import UserError

SR = 44100


def psf_delta_loop(feat: np.ndarray, n: int) -> np.ndarray:
  """python_speech_features.base.delta written out as a plain loop."""
  rows = len(feat)
  denominator = 2 * sum(i * i for i in range(1, n + 1))
  out = np.empty_like(feat)
  for t in range(rows):
    acc = np.zeros(feat.shape[1:], np.float64)
    for k in range(1, n + 1):
      ahead = feat[min(t + k, rows - 1)]
      behind = feat[max(t - k, 0)]
      acc += k * (ahead.astype(np.float64) - behind)
    out[t] = acc / denominator
  return out


@pytest.fixture(scope="module")
def speech_like() -> np.ndarray:
  """1 s of a frequency-modulated tone with an amplitude envelope."""
  t = np.arange(SR) / SR
  y = np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 3 * t)) * t)
  return (0.5 * y * (0.6 + 0.4 * np.sin(2 * np.pi * 5 * t))).astype(np.float32)


@pytest.fixture(scope="module")
def compat(speech_like) -> np.ndarray:
  return audio.mfcc_features(speech_like, SR, mode="compat")


def test_regression_delta_matches_loop():
  f = np.random.default_rng(0).normal(size=(20, 37)).astype(np.float32)
  np.testing.assert_allclose(audio.regression_delta(f, 2), psf_delta_loop(f, 2),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(audio.regression_delta(f, 1), psf_delta_loop(f, 1),
                             rtol=1e-5, atol=1e-6)


def test_compat_deltas_run_across_coefficients(speech_like, compat):
  import librosa  # pylint: disable=g-import-not-at-top
  m = librosa.feature.mfcc(y=speech_like, sr=SR, n_mfcc=20, n_fft=2048,
                           hop_length=512, pad_mode="reflect")
  d1 = psf_delta_loop(m, 2)  # (20, T): the loop runs over coefficients.
  d2 = psf_delta_loop(d1, 2)
  expected = np.concatenate([m, d1, d2], axis=0).T
  assert compat.shape == (m.shape[1], 60) and compat.dtype == np.float32
  np.testing.assert_allclose(compat, expected, rtol=1e-4, atol=1e-3)


def test_corrected_deltas_run_along_time(speech_like, compat):
  corrected = audio.mfcc_features(speech_like, SR, mode="corrected")
  np.testing.assert_array_equal(corrected[:, :20], compat[:, :20])
  m = compat[:, :20]  # (T, 20): the loop runs over time.
  d1 = psf_delta_loop(m, 2)
  np.testing.assert_allclose(corrected[:, 20:40], d1, rtol=1e-4, atol=1e-3)
  np.testing.assert_allclose(corrected[:, 40:], psf_delta_loop(d1, 2),
                             rtol=1e-4, atol=1e-3)
  assert not np.allclose(corrected[:, 20:], compat[:, 20:], atol=1e-2)


def test_unknown_mode(speech_like):
  with pytest.raises(UserError, match="MFCC mode"):
    audio.mfcc_features(speech_like, SR, mode="time")


def test_window_centre_formula():
  fps = 29.97
  frames = [0, 1, 7, 100, 119]
  expected = [int(n / fps * 44100 / 512) for n in frames]
  np.testing.assert_array_equal(audio.window_centres(frames, fps), expected)


def test_windows_shape_and_edge_padding():
  t = 200
  features = np.repeat(np.arange(t, dtype=np.float32)[:, None], 60, axis=1)
  fps = 25.0
  windows = audio.frame_windows(features, [0, 20, 58], fps)
  assert windows.shape == (3, 64, 60) and windows.dtype == np.float32
  # Frame 0: c = 0, rows -32..31: the first 32 repeat row 0.
  np.testing.assert_array_equal(windows[0, :, 0],
                                np.maximum(np.arange(-32, 32), 0))
  c = int(20 / fps * 44100 / 512)  # 34: fully inside.
  np.testing.assert_array_equal(windows[1, :, 0], np.arange(c - 32, c + 32))
  c = int(58 / fps * 44100 / 512)  # 199: runs off the end, repeats row 199.
  np.testing.assert_array_equal(windows[2, :, 0],
                                np.minimum(np.arange(c - 32, c + 32), t - 1))
  assert audio.frame_windows(features, 4, fps).shape == (4, 64, 60)


def test_window_past_the_audio_end():
  features = np.zeros((10, 60), np.float32)
  with pytest.raises(UserError, match="past the end of x.wav"):
    audio.frame_windows(features, [0, 30], 25.0, source="x.wav")


def test_load_wav_resamples_and_downmixes(tmp_path):
  path = tmp_path / "stereo.wav"
  t = np.arange(22050) / 22050
  left = 0.4 * np.sin(2 * np.pi * 220 * t)
  soundfile.write(path, np.stack([left, 0.5 * left], axis=1), 22050)
  y = audio.load_audio(path)
  assert y.dtype == np.float32 and y.ndim == 1 and len(y) == SR
  assert 0.25 < np.abs(y).max() < 0.35  # mean of the channels: 0.3 peak


def test_load_m4a_through_ffmpeg(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
  wav, m4a = tmp_path / "a.wav", tmp_path / "a.m4a"
  t = np.arange(SR) / SR
  soundfile.write(wav, 0.3 * np.sin(2 * np.pi * 440 * t), SR)
  subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i",
                  str(wav), "-c:a", "aac", str(m4a)], check=True)
  y = audio.load_audio(m4a)
  assert abs(len(y) - SR) < 2048 and 0.2 < np.abs(y).max() < 0.4


def test_missing_file(tmp_path):
  with pytest.raises(UserError, match="nope.wav does not exist"):
    audio.load_audio(tmp_path / "nope.wav")
  with pytest.raises(UserError, match="is a folder: give the path of a sound file in it"):
    audio.load_audio(tmp_path)


def test_empty_file(tmp_path):
  (tmp_path / "empty.wav").write_bytes(b"")
  with pytest.raises(UserError, match="empty.wav is empty"):
    audio.load_audio(tmp_path / "empty.wav")


def test_corrupt_file(tmp_path):
  (tmp_path / "bad.m4a").write_bytes(b"RIFF not really audio" * 50)
  with pytest.raises(UserError, match="bad.m4a could not be decoded"):
    audio.load_audio(tmp_path / "bad.m4a")


def test_truncated_wav(tmp_path):
  path = tmp_path / "cut.wav"
  soundfile.write(path, np.full(SR, 0.5, np.float32), SR, subtype="FLOAT")
  path.write_bytes(path.read_bytes()[:30])  # header cut in half
  with pytest.raises(UserError, match="cut.wav could not be decoded"):
    audio.load_audio(path)


def test_silent_file(tmp_path):
  soundfile.write(tmp_path / "quiet.wav", np.zeros(SR, np.float32), SR)
  with pytest.raises(UserError, match="quiet.wav is silent"):
    audio.load_audio(tmp_path / "quiet.wav")
