"""Lip-sync metrics on synthetic mouths whose opening follows a known loudness curve."""

import numpy as np

from apb2face_jax.data import audio
from apb2face_jax.metrics import lipsync

FPS = 30.0


def talking(n: int, delay: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(landmarks (n, 106, 2), mfcc windows (n, 64, 60)): the inner-lip gap is the loudness `delay` frames earlier."""
  rng = np.random.default_rng(seed)
  hops = int((n + 40) * lipsync.hops_per_frame(FPS)) + audio.WINDOW
  loud = np.convolve(rng.normal(size=hops), np.ones(9) / 9, mode="same")  # c0 per audio hop
  features = np.zeros((hops, 3 * audio.N_MFCC), np.float32)
  features[:, 0] = loud
  frames = np.arange(20, 20 + n)
  mfcc = audio.frame_windows(features, frames, FPS)
  opening = 5 + 3 * lipsync.envelope(mfcc, FPS, delay)
  face = np.random.default_rng(99).normal(size=(106, 2)).astype(np.float32)  # one face for every seed
  landmarks = np.zeros((n, 106, 2), np.float32) + face
  landmarks[:, lipsync.INNER_LOWER_MIDDLE, 1] = landmarks[:, lipsync.INNER_UPPER_MIDDLE, 1] + opening
  return landmarks, mfcc


def test_opening_is_the_inner_lip_gap():
  landmarks = np.zeros((1, 106, 2))
  landmarks[0, 98], landmarks[0, 102] = (10, 20), (13, 24)
  assert lipsync.mouth_opening(landmarks)[0] == 5.0


def test_offset_finds_the_delay_and_zero_for_synchronous_mouths():
  for delay in (0, 3, -4):
    landmarks, mfcc = talking(80, delay)
    lag, r = lipsync.av_offset(mfcc, lipsync.mouth_opening(landmarks), FPS)
    assert lag == delay and r > 0.99


def test_max_lag_stays_inside_the_window():
  assert lipsync.max_lag(30.0) == 10 and lipsync.max_lag(25.0) == 8


def test_scores_and_nan_frames():
  real, mfcc = talking(60)
  shifted = real.copy()
  shifted[:, lipsync.MOUTH] += (3.0, 4.0)
  shifted[5] = np.nan  # a frame the re-detection missed
  s = lipsync.scores(shifted, real, mfcc, FPS)
  assert np.isclose(s["m_lmd_px"], 5.0) and np.isclose(s["mouth_corr"], 1.0) and s["av_offset_frames"] == 0


def test_baselines_rank_as_they_should_on_loudness_driven_mouths():
  train_lm, train_mfcc = talking(200, seed=1)
  test_lm, test_mfcc = talking(50, seed=2)
  b = lipsync.baselines(train_lm, train_mfcc, test_lm, test_mfcc, FPS)
  assert b["mean_mouth"]["mouth_corr"] is None and b["mean_mouth"]["av_offset_frames"] is None
  assert b["loudness_fit"]["mouth_corr"] > 0.99 and b["loudness_fit"]["m_lmd_px"] < 0.05
  assert b["loudness_fit"]["m_lmd_px"] < b["nearest_mfcc"]["m_lmd_px"] < b["mean_mouth"]["m_lmd_px"]


def test_nearest_mfcc_returns_the_training_frame_of_the_same_audio():
  train_lm, train_mfcc = talking(40, seed=3)
  picked = lipsync.nearest_mfcc(train_lm, train_mfcc, train_mfcc[[7, 30]])
  assert np.array_equal(picked, train_lm[[7, 30]])
