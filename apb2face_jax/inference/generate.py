"""Speech -> talking-face video: MFCC windows -> landmarks -> landmark images -> faces -> MP4.

`Generator` fuses predictor, rasteriser and reenactor into one jitted function
over fixed-size batches of frames (the last batch is padded, so one compiled
shape serves every call); `Generator.stream` takes audio chunks and yields
frames as soon as their audio window is complete. `run(config)` is the
`configs/generate.py` job: an audio file in, an H.264 MP4 with that audio out
(the face crop, or with `full_frame` the source video's frame: `paste_back`).
"""

import collections
import dataclasses
import functools
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from apb2face_jax import inference
from apb2face_jax.data import audio, splits
from apb2face_jax.data.images import to_uint8
from apb2face_jax.errors import UserError, make_folder
from apb2face_jax.inference import paste_back, pose_blink

DEFAULT_FPS = 29.97  # the embedded sample's (and NTSC video's) frame rate, used when the dataset is unknown
# Rows of features a new row may depend on to its left or right: half the STFT window, and the
# time-delta context of `corrected` MFCCs (two regression deltas of N = audio.DELTA_N frames each).
_EDGE_ROWS = audio.N_FFT // 2 // audio.HOP_LENGTH
_DELTA_ROWS = 2 * audio.DELTA_N


@dataclasses.dataclass(frozen=True)
class Frame:
  """One generated video frame."""
  index: int
  landmarks: np.ndarray       # (106, 2) in 256-crop pixels
  landmark_image: np.ndarray  # (H, W, 3) uint8, what the reenactor saw
  face: np.ndarray            # (H, W, 3) uint8


class StreamingFeatures:
  """`audio.mfcc_features` of a growing signal, row by row, each row kept once final.

  A row is final when no later sample can change it. Rows equal those of the
  whole signal's features, with one exception: librosa floors the log-mel
  power at (maximum - 80 dB), and here the maximum is that of the last few
  seconds rather than of the whole file, so near-silent stretches can differ.
  """

  def __init__(self, mode: audio.MfccMode):
    self.mode = mode
    self.n_samples = 0
    self.finished = False
    self._rows: list[np.ndarray] = []
    self.n_rows = 0
    self._tail = np.zeros(0, np.float32)  # samples from `_tail_start` on
    self._tail_start = 0

  @property
  def features(self) -> np.ndarray:
    if len(self._rows) > 1:
      self._rows = [np.concatenate(self._rows)]
    return self._rows[0] if self._rows else np.zeros((0, 3 * audio.N_MFCC), np.float32)

  def push(self, samples: np.ndarray) -> None:
    """Appends mono float samples at `audio.SAMPLE_RATE`."""
    if self.finished:
      raise ValueError("push() after finish()")
    samples = np.asarray(samples, np.float32).reshape(-1)
    self._tail = np.concatenate([self._tail, samples])
    self.n_samples += samples.size
    self._update()

  def finish(self) -> None:
    """The signal has ended: computes the remaining rows (the end is padded as for a whole file)."""
    if self.n_samples < audio.N_FFT:
      raise UserError(f"the audio is {self.n_samples / audio.SAMPLE_RATE:.3f} s long: too short to hold speech; "
                      "give at least a second.")
    self.finished = True
    self._update()

  def _update(self) -> None:
    hop = audio.HOP_LENGTH
    if self.finished:
      last = 1 + self.n_samples // hop  # librosa's frame count (centred frames)
    else:
      last = (self.n_samples - audio.N_FFT // 2) // hop - _DELTA_ROWS + 1
    if last <= self.n_rows:
      return
    first = max(0, self.n_rows - _EDGE_ROWS - _DELTA_ROWS)  # recompute from here: left context of new rows
    features = audio.mfcc_features(self._tail[first * hop - self._tail_start:], mode=self.mode)
    self._rows.append(features[self.n_rows - first:last - first])
    self.n_rows = last
    keep = max(0, self.n_rows - _EDGE_ROWS - _DELTA_ROWS) * hop
    self._tail, self._tail_start = self._tail[keep - self._tail_start:], keep

  def frames_ready(self, fps: float) -> int:
    """How many video frames (from frame 0) have their whole MFCC window final."""
    total = int(self.n_samples * fps / audio.SAMPLE_RATE)
    if self.finished:
      return total
    after = audio.WINDOW - audio.WINDOW // 2  # rows a window needs from its centre on
    n = min(total, int((self.n_rows - after) * audio.HOP_LENGTH * fps / audio.SAMPLE_RATE) + 1)
    while n > 0 and audio.window_centres([n - 1], fps)[0] + after > self.n_rows:
      n -= 1
    return max(n, 0)

  def windows(self, frames: np.ndarray, fps: float) -> np.ndarray:
    return audio.frame_windows(self.features, frames, fps)


class Generator:
  """Predictor -> `drawing.rasterise_landmarks` -> reenactor, one jitted function of `batch_size` frames."""

  def __init__(self, predictor: inference.Predictor, reenactor: inference.Reenactor, batch_size: int = 16):
    if batch_size < 1:
      raise UserError(f"batch_size={batch_size} is not valid: it must be a positive integer.")
    self.predictor, self.reenactor, self.batch_size = predictor, reenactor, batch_size
    self.image_size = reenactor.image_size
    self._step = jax.jit(self._frames)

  def _frames(self, predictor_params: Any, params: Any, variables: Any, mfcc: jax.Array, pose: jax.Array,
              blink: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    landmarks = self.predictor.apply(predictor_params, mfcc, pose, blink)
    drawn = self.reenactor.draw(landmarks)
    return landmarks, drawn, self.reenactor.apply(params, variables, drawn)

  def compiled_shapes(self) -> int:
    """How many shapes the fused function has been compiled for (1 after any number of calls)."""
    return self._step._cache_size()  # pylint: disable=protected-access

  def _dispatch(self, mfcc: np.ndarray, pose: np.ndarray, blink: np.ndarray) -> tuple:
    """Starts one padded batch on the device (asynchronously)."""
    n, b = len(mfcc), self.batch_size
    pad = lambda x: np.concatenate([x, np.repeat(x[-1:], b - n, axis=0)]).astype(np.float32)  # noqa: E731
    return self._step(self.predictor.params, self.reenactor.params, self.reenactor.variables,
                      pad(mfcc), pad(pose), pad(blink))

  def __call__(self, mfcc: np.ndarray, pose: np.ndarray, blink: np.ndarray) -> list[Frame]:
    """Frames 0..n-1 of windows (n, 64, 60), pose (n, 3), blink (n, 2)."""
    return list(self._run(np.arange(len(mfcc)), np.asarray(mfcc), np.asarray(pose), np.asarray(blink)))

  def _run(self, frames: np.ndarray, mfcc: np.ndarray, pose: np.ndarray, blink: np.ndarray) -> Iterator[Frame]:
    """Frames in batches, the next batch dispatched before the previous one is copied back."""
    pending: collections.deque = collections.deque()
    for start in range(0, len(frames), self.batch_size):
      part = slice(start, start + self.batch_size)
      pending.append((frames[part], self._dispatch(mfcc[part], pose[part], blink[part])))
      if len(pending) > 1:
        yield from _unpack(*pending.popleft())
    while pending:
      yield from _unpack(*pending.popleft())

  def stream(self, chunks: Iterable[np.ndarray], pose: pose_blink.Track, blink: pose_blink.Track,
             fps: float, mfcc_mode: audio.MfccMode | None = None) -> Iterator[Frame]:
    """Frames of an audio stream: `chunks` of mono float samples at `audio.SAMPLE_RATE`.

    A frame comes out once the audio of its MFCC window (0.37 s past it) has
    arrived, in whole batches of `batch_size` (the last one padded when the
    stream ends). `pose` and `blink` map frame indices to values.
    """
    features = StreamingFeatures(mfcc_mode or self.predictor.mfcc_mode)
    done = 0

    def emit(upto: int) -> Iterator[Frame]:
      frames = np.arange(done, upto)
      yield from self._run(frames, features.windows(frames, fps), pose(frames), blink(frames))

    for chunk in chunks:
      features.push(chunk)
      ready = features.frames_ready(fps)
      upto = done + (ready - done) // self.batch_size * self.batch_size
      if upto > done:
        yield from emit(upto)
        done = upto
    features.finish()
    yield from emit(features.frames_ready(fps))


def _unpack(frames: np.ndarray, outputs: tuple) -> Iterator[Frame]:
  landmarks, drawn, faces = jax.device_get(outputs)
  drawn, faces = to_uint8(drawn), to_uint8(faces)
  for i, n in enumerate(frames):
    yield Frame(int(n), landmarks[i], drawn[i], faces[i])


@functools.lru_cache(maxsize=4)
def _recorded_columns(dataset: str | None, data_dir: str | None, split: str
                      ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str], str]:
  """(columns, identity per row, identity names, description) of a prepared dataset's split, read once."""
  import tfds_annvi  # pylint: disable=g-import-not-at-top

  builder = tfds_annvi.Builder(config=dataset, data_dir=data_dir, file_format="array_record") \
      if dataset in tfds_annvi.Builder.builder_configs else None
  if builder is None or not builder.is_prepared():
    raise UserError(f"the predictor's dataset (tfds_annvi/{dataset}) is not prepared on this machine, so its "
                    "recorded signals are not available: build it (python launch.py --config "
                    "configs/predictor.py builds it on first use), or choose another pose/blink.")
  columns, identity, names = splits.load_columns(builder, ("train", "test") if split == "all" else (split,))
  columns = {k: columns[k] for k in ("pose", "blink", "frame")}
  return columns, identity, names, f"split '{split}' of tfds_annvi/{dataset}"


def recorded_signals(data: dict[str, Any]) -> Callable[[str], tuple[dict[str, np.ndarray], np.ndarray, list[str], str]]:
  """`dataset(split)` for `pose_blink.parse_track`: the dataset a checkpoint records, opened only when asked.

  Each split is read once per process (pose and blink tracks, and every app request, share it).
  """
  return functools.partial(_recorded_columns, data.get("dataset"), data.get("data_dir"))


# Default signal centre when the predictor's dataset is not at hand: facing the camera, eyes at the
# embedded sample's typical openness (median 0.37, closed about 0.09; rounded down: AnnVI is unmeasured).
DEFAULT_CENTRE = pose_blink.Centre(pose=np.zeros(3), eye_open=np.full(2, 0.3), eye_closed=np.full(2, 0.08))


def centre_of(data: dict[str, Any]) -> pose_blink.Centre:
  """The pose/blink centre a checkpoint records of its training data (DEFAULT_CENTRE if none)."""
  centre = data.get("centre")
  return pose_blink.Centre(**{k: np.asarray(v) for k, v in centre.items()}) if centre else DEFAULT_CENTRE


def tracks(config: ml_collections.ConfigDict, fps: float, data: dict[str, Any], n_frames: int
           ) -> tuple[pose_blink.Track, pose_blink.Track]:
  """The config's pose and blink tracks, checked over all `n_frames` before any work starts.

  `data` is the predictor checkpoint's record of its training data.
  """
  natural = pose_blink.NaturalMotion(**config.natural)
  made = [pose_blink.parse_track(config[kind], kind, fps=fps, seed=config.seed, centre=centre_of(data),
                                 natural=natural, dataset=recorded_signals(data)) for kind in ("pose", "blink")]
  frames = np.arange(n_frames)
  return tuple(pose_blink.table_track(track(frames), kind) for track, kind in zip(made, ("pose", "blink")))


def write_mp4(path: str | Path, images: Iterable[np.ndarray], size: tuple[int, int], fps: float,
              audio_path: str | None, quality: float = 8) -> int:
  """Writes RGB uint8 images as H.264 (+ the audio of `audio_path` as AAC); returns the frame count.

  Writes to a hidden temporary file beside `path` and renames it when complete,
  so an error never leaves a partial video under `path`.
  """
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top

  path = Path(path)
  make_folder(path.parent, "the output folder")
  partial = path.with_name(f".{path.stem}.partial-{os.getpid()}.mp4")
  try:
    partial.touch()
  except OSError as e:
    raise UserError(f"cannot write {path} ({e.strerror}): give an output path in a writable folder.") from None
  writer = imageio_ffmpeg.write_frames(str(partial), size, fps=fps, codec="libx264", quality=quality,
                                       audio_path=audio_path, audio_codec="aac" if audio_path else None,
                                       ffmpeg_log_level="error", output_params=["-movflags", "+faststart"])
  count = 0
  try:
    writer.send(None)
    for image in images:
      writer.send(np.ascontiguousarray(image))
      count += 1
    writer.close()
    os.replace(partial, path)
  except (OSError, RuntimeError) as e:
    reason = " ".join(str(e).split("FFMPEG COMMAND")[0].split())[:300]
    raise UserError(f"ffmpeg could not write {path} ({reason}): check that the "
                    "folder is writable and the audio is readable.") from None
  finally:
    writer.close()  # stops ffmpeg if the frames failed midway
    partial.unlink(missing_ok=True)
  return count


def _check(config: ml_collections.ConfigDict) -> None:
  for name in ("audio", "predictor_workdir", "reenactor_workdir", "output"):
    if not config.get(name):
      raise UserError(f"config.{name} is required: pass --config.{name}=...")
  if Path(config.output).suffix.lower() != ".mp4":
    raise UserError(f"config.output={config.output!r} must end with .mp4 (H.264 in MP4 is what is written).")
  if not 0 <= config.quality <= 10:
    raise UserError(f"config.quality={config.quality!r} is not valid: it must be in [0, 10].")
  if config.fps is not None and not config.fps > 0:
    raise UserError(f"config.fps={config.fps!r} is not valid: it must be positive.")
  if not config.min_audio_seconds > 0:
    raise UserError(f"config.min_audio_seconds={config.min_audio_seconds!r} must be positive.")
  if config.full_frame and not config.background_frames > 0:
    raise UserError(f"config.background_frames={config.background_frames!r} must be a positive integer.")


def run(config: ml_collections.ConfigDict) -> dict[str, float]:
  """The `generate` job: `config.audio` -> `config.output` (MP4). Returns counts and timings."""
  _check(config)
  samples = load_speech(config.audio, config.min_audio_seconds)
  predictor = inference.load_predictor(config.predictor_workdir, config.checkpoint)
  reenactor = inference.load_reenactor(config.reenactor_workdir, config.checkpoint)
  fps = config.fps or predictor.data["fps"]
  if fps is None:
    fps = DEFAULT_FPS
    print(f"note: the predictor's checkpoint records no frame rate: using {DEFAULT_FPS} fps "
          "(set --config.fps to choose).", flush=True)
  full = full_frame(config, reenactor) if config.full_frame else None
  return write_video(config, Generator(predictor, reenactor, config.batch_size), samples, fps, predictor.data, full)


def load_speech(path: str, min_seconds: float) -> np.ndarray:
  """`audio.load_audio(path)`, refused when shorter than `min_seconds`."""
  samples = audio.load_audio(path)
  seconds = samples.size / audio.SAMPLE_RATE
  if seconds < min_seconds:
    raise UserError(f"audio {path} lasts {seconds:.3f} s, shorter than config.min_audio_seconds="
                    f"{min_seconds}: give a longer recording.")
  return samples


def full_frame(config: ml_collections.ConfigDict, reenactor: inference.Reenactor) -> paste_back.FullFrame:
  """The config's paste-back into the reenactor identity's recording."""
  background = paste_back.load_background(reenactor.data, config.identity, config.background_frames)
  return paste_back.FullFrame(background, config.background, config.feather)


def write_video(config: ml_collections.ConfigDict, generator: Generator, samples: np.ndarray, fps: float,
                data: dict[str, Any], full: paste_back.FullFrame | None = None) -> dict[str, float]:
  """`samples` -> `config.output` with the config's pose, blink and layout; the audio of `config.audio`.

  `data` is the predictor checkpoint's record of its training data (frame rate, signal centre).
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top

  seconds = samples.size / audio.SAMPLE_RATE
  n_frames = int(samples.size * fps / audio.SAMPLE_RATE)
  pose, blink = tracks(config, fps, data, n_frames)
  width, height = full.size if full else (generator.image_size, generator.image_size)

  def image(frame: Frame) -> np.ndarray:
    face, drawn = frame.face, frame.landmark_image
    if full:
      face = full.face(frame.index, face, frame.landmarks)
      drawn = full.landmark_image(frame.index, drawn) if config.side_by_side else None
    return np.concatenate([drawn, face], axis=1) if config.side_by_side else face

  def images() -> Iterator[np.ndarray]:
    for frame in tqdm(generator.stream([samples], pose, blink, fps), total=n_frames, unit="frame",
                      desc="generate", dynamic_ncols=True, mininterval=1.0):
      yield image(frame)

  if config.side_by_side:
    width *= 2
  t0 = time.time()
  written = write_mp4(config.output, images(), (width, height), fps, config.audio, config.quality)
  elapsed = time.time() - t0
  print(f"wrote {config.output}: {written} frames of {width}x{height} at {fps:.4g} fps ({written / fps:.2f} s, "
        f"audio {seconds:.2f} s), {written / elapsed:.1f} frames/s", flush=True)
  return {"frames": float(written), "fps": fps, "audio_seconds": seconds, "seconds": elapsed,
          "width": float(width), "height": float(height)}
