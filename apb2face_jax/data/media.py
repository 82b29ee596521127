"""Media files through OpenCV and ffmpeg (imageio-ffmpeg's): probe, frames, decode to WAV.

The one place that opens video files and runs ffmpeg on inputs: the annotator,
the raw AnnVI reader, the full-frame background and audio loading use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import dataclasses
from pathlib import Path
import subprocess

import cv2
import numpy as np

from apb2face_jax.errors import UserError


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  frame_count: int  # as the container reports it; may be approximate
  fps: float
  width: int
  height: int


def probe_video(path: Path) -> VideoInfo:
  """Frame count, fps and frame size, or a UserError if OpenCV cannot read it."""
  if not path.is_file():
    raise UserError(f'video {path} does not exist; pass the path of an existing video file')
  capture = cv2.VideoCapture(str(path))
  try:
    readable = capture.isOpened() and capture.read()[0]
    info = VideoInfo(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
                     float(capture.get(cv2.CAP_PROP_FPS)),
                     int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
  finally:
    capture.release()
  if not readable or info.width <= 0 or info.height <= 0:
    raise UserError(f'video {path} cannot be decoded by OpenCV; convert it to an '
                    'H.264 .mp4 (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)')
  return info


def read_frames(path: Path) -> Iterator[np.ndarray]:
  """The video's frames in order, as RGB uint8 arrays."""
  capture = cv2.VideoCapture(str(path))
  try:
    while True:
      ok, frame = capture.read()
      if not ok:
        return
      yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
  finally:
    capture.release()


def iter_frames(path: str | Path, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
  """Yields (index, RGB uint8 frame) for the requested frames, ascending.

  Reads the video sequentially (no seeking, which is inexact for some mp4s),
  decoding only the frames asked for.
  """
  wanted = sorted(set(int(i) for i in indices))
  if not wanted:
    return
  capture = cv2.VideoCapture(str(path))
  if not capture.isOpened():
    raise UserError(f"video {path} cannot be opened by OpenCV: check that it is a valid mp4.")
  try:
    position = 0
    for index in wanted:
      while position < index:
        if not capture.grab():
          break
        position += 1
      ok, frame = capture.read() if position == index else (False, None)
      if not ok:
        raise UserError(f"video {path} ends before frame {index}: the video is shorter than its header or the "
                        "labels say; re-encode it or fix the labels.")
      position += 1
      yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
  finally:
    capture.release()


def ffmpeg_to_wav(source: str | Path, destination: str | Path, codec: str = "pcm_f32le") -> str | None:
  """Decodes the first audio track of `source` into a WAV at `destination` (native rate).

  Returns None on success, else ffmpeg's reason (the partial file removed);
  raises a UserError if no ffmpeg is installed.
  """
  try:
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
    exe = imageio_ffmpeg.get_ffmpeg_exe()
  except (ImportError, RuntimeError):
    raise UserError(f"cannot decode {source}: no ffmpeg was found. `pip install imageio-ffmpeg` (it ships one), "
                    "or convert the file to WAV.") from None
  command = [exe, "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-map", "0:a:0", "-vn",
             "-acodec", codec, "-f", "wav", str(destination)]
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  if result.returncode == 0 and Path(destination).is_file():
    return None
  Path(destination).unlink(missing_ok=True)
  return (result.stderr.strip().splitlines() or ["no message"])[-1]


def extract_audio(video: Path, destination: Path) -> None:
  """Writes the video's first audio track to `destination` as 16-bit PCM wav."""
  reason = ffmpeg_to_wav(video, destination, "pcm_s16le")
  if reason is not None:
    raise UserError(f"video {video} has no audio track that ffmpeg can read (ffmpeg: {reason}); pass the "
                    "speech audio with --audio")
