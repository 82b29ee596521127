"""Lip-sync metrics on 106-point landmarks (256-crop pixels) and the frames' own MFCC windows; numpy only.

- M-LMD: mean Euclidean distance over the mouth points (outer and inner lips,
  84-103), predicted vs real, in px at 256 (the usual mouth landmark distance).
- Mouth opening: the inner-lip gap, |point 98 - point 102| (upper / lower inner
  lip middles of `annotate.layout106`); its Pearson correlation over time,
  predicted vs real.
- Audio-visual offset: the lag L (video frames) maximising the correlation of
  the audio envelope at frame t - L with the mouth opening at frame t; L > 0:
  the mouth moves after the sound. The envelope is MFCC c0 (the log mel
  energy) read out of each frame's own 64-hop window, so a lag needs no audio
  but the frame's, and |L| is bounded by the window (10 frames at 30 fps).

Baselines, each from one identity's training frames: the mean training mouth;
a least-squares fit of the mouth points from loudness (envelope at lag 0);
the landmarks of the training frame nearest by MFCC window.
"""

import numpy as np

from apb2face_jax.data import audio
from apb2face_jax.annotate.layout106 import INNER_LIPS, OUTER_LIPS

MOUTH = OUTER_LIPS + INNER_LIPS
INNER_UPPER_MIDDLE, INNER_LOWER_MIDDLE = 98, 102  # layout106: inner lips, 98 upper / 102 lower middle
MIN_FRAMES = 3  # fewer paired frames than this: no correlation
_CONSTANT = 1e-5  # relative spread below which a series counts as constant (float32 rounding is ~1e-7)
# Envelope: c0 averaged over one video frame's span, at this many positions (our choice).
_ENVELOPE_TAPS = 5


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
  """(N,) inner-lip gap of (N, 106, 2) landmarks, in their units (NaN stays NaN)."""
  return np.linalg.norm(landmarks[:, INNER_UPPER_MIDDLE] - landmarks[:, INNER_LOWER_MIDDLE], axis=-1)


def mouth_lmd(predicted: np.ndarray, real: np.ndarray) -> float | None:
  """Mean distance over the mouth points and the frames where both are finite (px)."""
  d = np.linalg.norm(predicted[:, MOUTH] - real[:, MOUTH], axis=-1).mean(axis=1)
  d = d[np.isfinite(d)]
  return float(d.mean()) if d.size else None


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
  """Pearson correlation over the entries where both are finite; None if too few or one is constant."""
  ok = np.isfinite(a) & np.isfinite(b)
  if ok.sum() < MIN_FRAMES:
    return None
  a, b = a[ok].astype(np.float64), b[ok].astype(np.float64)
  if any(x.std() <= _CONSTANT * (1.0 + np.abs(x).mean()) for x in (a, b)):
    return None
  return float(np.corrcoef(a, b)[0, 1])


def hops_per_frame(fps: float) -> float:
  return audio.SAMPLE_RATE / audio.HOP_LENGTH / fps


def max_lag(fps: float) -> int:
  """The largest |lag| (video frames) whose envelope lies inside every frame's MFCC window."""
  return int((audio.WINDOW // 2 - 1 - hops_per_frame(fps) / 2) // hops_per_frame(fps))


def envelope(mfcc: np.ndarray, fps: float, lag: int = 0) -> np.ndarray:
  """(N,) loudness (MFCC c0) at `lag` video frames before each frame, from its (N, 64, 60) window."""
  step = hops_per_frame(fps)
  at = audio.WINDOW // 2 - lag * step + np.linspace(-step / 2, step / 2, _ENVELOPE_TAPS)
  hops = np.arange(mfcc.shape[1])
  return np.stack([np.interp(at, hops, window[:, 0]).mean() for window in mfcc])


def av_offset(mfcc: np.ndarray, opening: np.ndarray, fps: float) -> tuple[int | None, float | None]:
  """(lag, correlation at it): the lag in [-max_lag, max_lag] of highest envelope-opening correlation."""
  best: tuple[int | None, float | None] = (None, None)
  for lag in range(-max_lag(fps), max_lag(fps) + 1):
    r = correlation(envelope(mfcc, fps, lag), opening)
    if r is not None and (best[1] is None or r > best[1]):
      best = (lag, r)
  return best


def scores(predicted: np.ndarray, real: np.ndarray, mfcc: np.ndarray, fps: float) -> dict[str, float | int | None]:
  """M-LMD, opening correlation and AV offset of `predicted` landmarks (NaN rows: not detected) vs `real`."""
  opening = mouth_opening(predicted)
  lag, r = av_offset(mfcc, opening, fps)
  return {"m_lmd_px": mouth_lmd(predicted, real), "mouth_corr": correlation(opening, mouth_opening(real)),
          "av_offset_frames": lag, "av_corr": r}


def mean_mouth(train_landmarks: np.ndarray, n: int) -> np.ndarray:
  """The mean training landmarks, for each of `n` frames."""
  return np.broadcast_to(train_landmarks.mean(axis=0), (n, *train_landmarks.shape[1:])).copy()


def loudness_fit(train_landmarks: np.ndarray, train_mfcc: np.ndarray, test_mfcc: np.ndarray,
                 fps: float) -> np.ndarray:
  """Mean landmarks with the mouth points least-squares fitted as a + b * loudness (per coordinate)."""
  design = lambda m: np.stack([np.ones(len(m)), envelope(m, fps)], axis=1)  # noqa: E731
  coef, *_ = np.linalg.lstsq(design(train_mfcc), train_landmarks[:, MOUTH].reshape(len(train_mfcc), -1), rcond=None)
  out = mean_mouth(train_landmarks, len(test_mfcc))
  out[:, MOUTH] = (design(test_mfcc) @ coef).reshape(len(test_mfcc), len(MOUTH), 2)
  return out


def nearest_mfcc(train_landmarks: np.ndarray, train_mfcc: np.ndarray, test_mfcc: np.ndarray) -> np.ndarray:
  """The landmarks of the training frame whose MFCC window (standardised per feature) is nearest."""
  mean, std = train_mfcc.mean(axis=(0, 1)), train_mfcc.std(axis=(0, 1)) + 1e-6
  flat = lambda m: ((m - mean) / std).reshape(len(m), -1)  # noqa: E731
  a, b = flat(train_mfcc), flat(test_mfcc)
  distance = (b * b).sum(1)[:, None] - 2 * b @ a.T + (a * a).sum(1)[None, :]
  return train_landmarks[np.argmin(distance, axis=1)]


def baselines(train_landmarks: np.ndarray, train_mfcc: np.ndarray, real: np.ndarray, test_mfcc: np.ndarray,
              fps: float) -> dict[str, dict[str, float | int | None]]:
  """`scores` of the three baselines on one identity's test frames."""
  guesses = {"mean_mouth": mean_mouth(train_landmarks, len(real)),
             "loudness_fit": loudness_fit(train_landmarks, train_mfcc, test_mfcc, fps),
             "nearest_mfcc": nearest_mfcc(train_landmarks, train_mfcc, test_mfcc)}
  return {name: scores(guess, real, test_mfcc, fps) for name, guess in guesses.items()}
