"""Audio loading and the APB2Face MFCC features (docs/paper_and_code.md §5).

Shared by the AnnVI dataset builder and by speech -> video generation. Pure
numpy + librosa; no JAX, no TensorFlow.

Recipe (docs/paper_and_code.md §5, the official `data/AnnScripts/script_AnnVI.py`): load mono at
44.1 kHz; 20 MFCCs with n_fft 2048 and hop 512; first and second regression
deltas (N=2); concatenate to 60 features per audio frame; one training example
sees the 64 audio frames centred on its video frame.
"""

import os
import tempfile
from collections.abc import Sequence
from typing import Literal

import numpy as np
import soundfile

from apb2face_jax.data import media
from apb2face_jax.errors import UserError

# docs/paper_and_code.md §5 / script_AnnVI.py: sample rate, MFCC count, FFT size, hop, window.
SAMPLE_RATE = 44100
N_MFCC = 20
N_FFT = 2048
HOP_LENGTH = 512
WINDOW = 64
# python_speech_features.base.delta(f, 2) in the official script.
DELTA_N = 2
# STFT padding of the librosa (< 0.9) the official script ran on; librosa
# 0.9+ defaults to zero padding, which changes the first and last frames.
STFT_PAD_MODE = "reflect"
# A file whose peak amplitude is below this (-100 dBFS) counts as silent.
SILENCE_PEAK = 1e-5
# Inputs refused: below 8 kHz (telephone band) the MFCCs' mel bands above
# 4 kHz hold nothing; more than 2 channels would mix non-speech channels.
MIN_SAMPLE_RATE = 8000
MAX_CHANNELS = 2

MfccMode = Literal["compat", "corrected"]
MFCC_MODES = ("compat", "corrected")


def load_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
  """Reads an audio file as float32 mono at `sr` Hz.

  libsndfile (via soundfile) reads wav/flac/ogg/mp3; anything else (m4a/aac)
  is decoded with ffmpeg first (the one shipped by imageio-ffmpeg, or the
  system's). Resampling and down-mixing are librosa's (`librosa.load`).
  """
  import librosa  # pylint: disable=g-import-not-at-top  (slow import)

  path = os.fspath(path)
  if os.path.isdir(path):
    raise UserError(f"Audio file {path} is a folder: give the path of a sound file in it.")
  if not os.path.isfile(path):
    raise UserError(f"Audio file {path} does not exist: check the path.")
  if os.path.getsize(path) == 0:
    raise UserError(f"Audio file {path} is empty (0 bytes): replace it with "
                    "the real recording.")
  with tempfile.TemporaryDirectory() as tmp:
    try:
      soundfile.info(path)
      readable = path
    except soundfile.LibsndfileError:
      readable = _ffmpeg_to_wav(path, os.path.join(tmp, "decoded.wav"))
    info = soundfile.info(readable)
    _check_format(path, info.samplerate, info.channels)
    try:
      y, _ = librosa.load(readable, sr=sr, mono=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as e:
      raise UserError(f"Audio file {path} could not be decoded ({e}); it may "
                      "be truncated or corrupt: re-export it (e.g. as WAV)."
                      ) from e
  y = np.asarray(y, np.float32)
  if y.size == 0:
    raise UserError(f"Audio file {path} holds no samples: replace it with the "
                    "real recording.")
  if not np.all(np.isfinite(y)):
    raise UserError(f"Audio file {path} holds NaN/inf samples: it is corrupt; "
                    "re-export it.")
  if np.max(np.abs(y)) < SILENCE_PEAK:
    raise UserError(f"Audio file {path} is silent (peak below "
                    f"{SILENCE_PEAK}): check that it is the right track and "
                    "that it was exported with sound.")
  return y


def _check_format(path: str, rate: int, channels: int) -> None:
  """Refuses sample rates and channel counts the MFCC recipe cannot use."""
  if rate < MIN_SAMPLE_RATE:
    raise UserError(f"Audio file {path} has sample rate {rate} Hz, "
                    f"below the supported {MIN_SAMPLE_RATE} Hz: use a recording "
                    "of at least 8 kHz (44.1 kHz is what AnnVI used).")
  if channels > MAX_CHANNELS:
    raise UserError(f"Audio file {path} has {channels} channels; mono or "
                    "stereo are supported: extract the speech channel, e.g. "
                    "ffmpeg -i IN -af 'pan=mono|c0=c0' OUT.wav.")


def _ffmpeg_to_wav(path: str, out: str) -> str:
  """Decodes `path` with ffmpeg into a float WAV at `out` (native rate)."""
  said = media.ffmpeg_to_wav(path, out)
  if said is not None:
    raise UserError(
        f"Audio file {path} could not be decoded by libsndfile nor ffmpeg "
        f"(ffmpeg: {said}); it may be corrupt or not audio: re-export it, "
        "e.g. as WAV.")
  return out


def regression_delta(f: np.ndarray, n: int = DELTA_N) -> np.ndarray:
  """The regression delta along axis 0, edge-padded by `n` rows.

  d[t] = sum_{k=1..n} k * (f[t+k] - f[t-k]) / (2 * sum_{k=1..n} k^2), the
  formula of python_speech_features.base.delta, including its axis choice (the
  first axis of whatever it is given).
  """
  f = np.asarray(f)
  padded = np.pad(f.astype(np.float64), [(n, n)] + [(0, 0)] * (f.ndim - 1),
                  mode="edge")
  rows = f.shape[0]
  d = sum(k * (padded[n + k:n + k + rows] - padded[n - k:n - k + rows])
          for k in range(1, n + 1))
  return (d / (2 * sum(k * k for k in range(1, n + 1)))).astype(f.dtype)


def mfcc_features(y: np.ndarray, sr: int = SAMPLE_RATE,
                  mode: MfccMode = "compat", n_mfcc: int = N_MFCC,
                  n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
                  ) -> np.ndarray:
  """MFCCs with first and second deltas, (T, 3 * n_mfcc) float32.

  `compat` reproduces the official script: the deltas are taken over the
  (n_mfcc, T) array's first axis, i.e. ACROSS COEFFICIENTS (its bug; the
  released AnnVI features were made so). `corrected` takes them along time.
  """
  import librosa  # pylint: disable=g-import-not-at-top  (slow import)

  if mode not in MFCC_MODES:
    raise UserError(f"MFCC mode {mode!r} is unknown: use one of {MFCC_MODES}.")
  m = librosa.feature.mfcc(y=np.asarray(y, np.float32), sr=sr, n_mfcc=n_mfcc,
                           n_fft=n_fft, hop_length=hop_length,
                           pad_mode=STFT_PAD_MODE).astype(np.float32)
  if mode == "compat":
    d1 = regression_delta(m)
    d2 = regression_delta(d1)
  else:
    d1 = regression_delta(m.T).T
    d2 = regression_delta(d1.T).T
  return np.concatenate([m, d1, d2], axis=0).T.copy()


def window_centres(frames: Sequence[int] | np.ndarray, fps: float,
                   sr: int = SAMPLE_RATE, hop: int = HOP_LENGTH) -> np.ndarray:
  """Audio frame index of each video frame n: c = int(n / fps * sr / hop)."""
  return np.array([int(int(n) / fps * sr / hop) for n in frames], np.int64)


def frame_windows(features: np.ndarray, frames: int | Sequence[int] | np.ndarray,
                  fps: float, sr: int = SAMPLE_RATE, hop: int = HOP_LENGTH,
                  win: int = WINDOW, source: str = "the audio") -> np.ndarray:
  """The (win, F) feature window of each video frame, (N, win, F) float32.

  `frames` is a frame count (frames 0..n-1) or a list of frame indices.
  Window = rows [c - win/2, c + win/2) of `features` (T, F) with c from
  `window_centres`. Rows before the start or past the end repeat the first or
  last row (edge padding; the official script does not pad). A frame whose
  centre c lies past the audio's end is an error: the audio must cover the
  video. `source` names the audio in that message.
  """
  features = np.asarray(features, np.float32)
  if isinstance(frames, (int, np.integer)):
    frames = np.arange(int(frames))
  centres = window_centres(frames, fps, sr, hop)
  t = features.shape[0]
  late = np.flatnonzero(centres >= t)
  if late.size:
    n = int(np.asarray(frames)[late[0]])
    raise UserError(
        f"Video frame {n} ({n / fps:.3f} s) lies past the end of {source} "
        f"({t * hop / sr:.3f} s of features): the audio must cover the whole "
        "video; use the matching audio track.")
  rows = centres[:, None] + np.arange(-(win // 2), win - win // 2)[None, :]
  return features[np.clip(rows, 0, t - 1)]
