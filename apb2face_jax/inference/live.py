"""Live generation: audio chunks as they arrive (a microphone) -> faces, with the latency of each chunk.

`LiveStream` runs `generate.Generator.stream` (one compiled shape) on a worker
thread fed by `push`; `push` returns the frames that chunk completed, and
records the latency from the chunk's arrival to its last frame. A frame needs
the audio 0.37 s past it (its MFCC window), which is added to what is measured
here.
"""

import queue
import threading
import time

import numpy as np

from apb2face_jax.data import audio
from apb2face_jax.inference import generate, pose_blink

_DONE = object()  # the worker has asked for the next chunk: the previous one is finished


class LiveStream:
  """One live session: `push(samples, rate)` -> its frames; `finish()` -> the rest."""

  def __init__(self, generator: generate.Generator, pose: pose_blink.Track, blink: pose_blink.Track,
               fps: float):
    self.fps = fps
    self.latencies: list[float] = []  # seconds, a chunk's arrival -> its last frame out
    self.frames = 0
    self.audio_seconds = 0.0          # of audio pushed
    self.busy_seconds = 0.0           # arrival -> done, summed over chunks
    self._lock = threading.Lock()     # one push or finish at a time (a server may finish from another thread)
    self._chunks: queue.Queue = queue.Queue()
    self._out: queue.Queue = queue.Queue()
    self._worker = threading.Thread(target=self._work, args=(generator, pose, blink), daemon=True)
    self._worker.start()
    self._collect(until_done=True)  # the worker's first request for a chunk

  def _inputs(self):
    while True:
      self._out.put(_DONE)
      samples = self._chunks.get()
      if samples is None:
        return
      yield samples

  def _work(self, generator: generate.Generator, pose: pose_blink.Track, blink: pose_blink.Track) -> None:
    try:
      for frame in generator.stream(self._inputs(), pose, blink, self.fps):
        self._out.put(frame)
    except Exception as e:  # pylint: disable=broad-except  (handed to the caller, raised there)
      self._out.put(e)
    self._out.put(None)

  def _collect(self, until_done: bool) -> list[generate.Frame]:
    frames = []
    while True:
      item = self._out.get()
      if isinstance(item, Exception):
        raise item
      if item is None:  # the worker has ended: leave the mark for every later push or finish
        self._out.put(None)
        return frames
      if until_done and item is _DONE:
        return frames
      if item is not _DONE:
        frames.append(item)

  def push(self, samples: np.ndarray, sample_rate: int) -> list[generate.Frame]:
    """Mono or (n, channels) samples at `sample_rate`, int or float -> the frames they completed
    (none once the worker has ended: finished, e.g. a chunk that arrives after its tab closed, or failed)."""
    import librosa  # pylint: disable=g-import-not-at-top  (slow import)

    with self._lock:
      arrival = time.perf_counter()
      y = np.asarray(samples)
      if np.issubdtype(y.dtype, np.integer):
        y = y / float(np.iinfo(y.dtype).max)
      y = y.astype(np.float32)
      if y.ndim == 2:
        y = y.mean(axis=1)
      self.audio_seconds += y.size / sample_rate
      if sample_rate != audio.SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=audio.SAMPLE_RATE)
      self._chunks.put(y)
      frames = self._collect(until_done=True)
      done = time.perf_counter()
      self.busy_seconds += done - arrival
      if frames:
        self.latencies.append(done - arrival)
        self.frames += len(frames)
      return frames

  def finish(self) -> list[generate.Frame]:
    """The stream has ended: the remaining frames (the last batch padded)."""
    with self._lock:
      self._chunks.put(None)
      frames = self._collect(until_done=False)
      self._worker.join()
      self.frames += len(frames)
      return frames

  def figures(self) -> dict[str, float]:
    """Median and 95th-percentile latency (ms), the frames made per second of work, frames and audio seconds."""
    lat = np.asarray(self.latencies) * 1e3 if self.latencies else np.zeros(1)
    return {"median_ms": float(np.median(lat)), "p95_ms": float(np.percentile(lat, 95)),
            "frames": float(self.frames), "frames_per_s": self.frames / max(self.busy_seconds, 1e-9),
            "audio_seconds": self.audio_seconds}
