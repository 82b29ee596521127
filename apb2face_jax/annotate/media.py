"""Video frames (OpenCV) and the audio track (ffmpeg from imageio-ffmpeg)."""

from __future__ import annotations

from collections.abc import Iterator
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


def extract_audio(video: Path, destination: Path) -> None:
  """Writes the video's first audio track to `destination` as 16-bit PCM wav."""
  try:
    import imageio_ffmpeg  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise UserError(f'cannot extract the audio of {video}: imageio-ffmpeg is not '
                    'installed; pass the audio file with --audio') from None
  command = [imageio_ffmpeg.get_ffmpeg_exe(), '-nostdin', '-loglevel', 'error', '-y',
             '-i', str(video), '-map', '0:a:0', '-vn', '-acodec', 'pcm_s16le',
             str(destination)]
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  if result.returncode != 0:
    destination.unlink(missing_ok=True)
    reason = (result.stderr.strip().splitlines() or ['no message'])[0]
    raise UserError(f'video {video} has no audio track that ffmpeg can read '
                    f'(ffmpeg: {reason}); pass the speech audio with --audio')
