"""Annotates one video into AnnVI's raw layout for one identity (docs/paper_and_code.md §5).

  ROOT/video/ID.mp4      copy of the video
  ROOT/audio/ID.<ext>    copy of the given audio, or the video's track as .wav
  ROOT/label/ID.txt      usable frame ranges, lines "l r" (inclusive, 0-based)
  ROOT/landmark/ID.txt   one annvi_format line per usable frame
"""

from __future__ import annotations

import collections
import dataclasses
from pathlib import Path
import shutil
import tempfile
import time

import numpy as np
import tqdm

from apb2face_jax.data import annvi_format
from apb2face_jax.annotate import blink
from apb2face_jax.annotate import layout106
from apb2face_jax.data import media
from apb2face_jax.annotate import pose
from apb2face_jax.annotate.detector import FaceMeshDetector
from apb2face_jax.data.layout import check_identity
from apb2face_jax.errors import UserError

NO_FACE = 'no face found'
POSE_FAILED = 'head-pose fit failed'
BLINK_FAILED = 'eye has zero width'


@dataclasses.dataclass(frozen=True)
class Report:
  """What one annotation run did."""
  frames: int
  annotations: tuple[annvi_format.FrameAnnotation, ...]
  dropped: dict[str, int]  # reason -> frame count
  seconds: float  # reading, detecting and fitting (model loading excluded)

  def dropped_summary(self) -> str:
    """How many frames were dropped, and why."""
    reasons = ', '.join(f'{reason}: {count}' for reason, count in self.dropped.items())
    return (f'{sum(self.dropped.values())} frames dropped'
            + (f' ({reasons})' if reasons else ''))

  def summary(self) -> str:
    """A few human-readable lines."""
    return '\n'.join([
        f'{len(self.annotations)} of {self.frames} frames usable',
        self.dropped_summary(),
        f'annotation speed: {self.frames / self.seconds:.1f} frames/s '
        f'({self.frames} frames in {self.seconds:.2f} s)',
    ])


def annotate_frame(
    frame: int, mesh: np.ndarray | None, width: int, height: int,
) -> annvi_format.FrameAnnotation | str:
  """The annotation of one frame from its FaceMesh vertices, or why it was dropped."""
  if mesh is None:
    return NO_FACE
  angles = pose.estimate_pose(mesh, width, height)
  if angles is None:
    return POSE_FAILED
  points = layout106.from_facemesh(mesh)
  ratios = blink.eye_ratios(points)
  if not np.all(np.isfinite(ratios)):
    return BLINK_FAILED
  return annvi_format.FrameAnnotation(frame, width, height, points, angles, ratios)


def _annotate_frames(
    video: Path, info: media.VideoInfo, description: str, show_progress: bool,
) -> Report:
  annotations = []
  dropped: collections.Counter[str] = collections.Counter()
  with FaceMeshDetector() as detect:
    start = time.perf_counter()
    progress = tqdm.tqdm(media.read_frames(video), total=info.frame_count or None,
                         unit='frame', desc=description, disable=not show_progress)
    for index, rgb in enumerate(progress):
      height, width = rgb.shape[:2]
      result = annotate_frame(index, detect(rgb), width, height)
      if isinstance(result, str):
        dropped[result] += 1
      else:
        annotations.append(result)
  seconds = time.perf_counter() - start
  frames = len(annotations) + sum(dropped.values())
  return Report(frames, tuple(annotations), dict(dropped), seconds)


def _copy(source: Path, destination: Path) -> None:
  destination.parent.mkdir(parents=True, exist_ok=True)
  if not (destination.exists() and destination.samefile(source)):
    shutil.copyfile(source, destination)


def _audio_destination(root: Path, identity: str, suffix: str) -> Path:
  destination = root / 'audio' / f'{identity}{suffix}'
  others = [p for p in root.glob(f'audio/{identity}.*') if p.name != destination.name]
  if others:
    raise UserError(f'{others[0]} already holds audio for --id {identity}; remove it '
                    f'first (one audio file per identity), then run again')
  return destination


def annotate_video(video: Path, root: Path, identity: str, audio: Path | None = None,
                   show_progress: bool = True) -> Report:
  """Annotates `video` and writes the identity's AnnVI raw files under `root`."""
  identity = check_identity(identity, '--id')
  video, root = Path(video), Path(root)
  audio = Path(audio) if audio is not None else None
  if video.suffix.lower() != '.mp4':
    raise UserError(f'video {video} is not an .mp4 file (AnnVI stores video/<id>.mp4); '
                    'convert it first, e.g. ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4')
  if audio is not None and not audio.is_file():
    raise UserError(f'audio file {audio} does not exist; pass an existing file with '
                    '--audio, or leave --audio out to use the video\'s own audio track')
  if audio is not None and not audio.suffix:
    raise UserError(f'audio file {audio} has no extension; rename it to show its '
                    'format (e.g. .wav, .m4a)')
  info = media.probe_video(video)
  audio_destination = _audio_destination(
      root, identity, audio.suffix.lower() if audio is not None else '.wav')

  with tempfile.TemporaryDirectory() as scratch:
    if audio is None:
      audio = Path(scratch) / 'audio.wav'
      media.extract_audio(video, audio)
    report = _annotate_frames(video, info, identity, show_progress)
    if not report.annotations:
      raise UserError(f'no usable face in any of the {report.frames} frames of {video} '
                      f'({report.dropped_summary()}); use a video showing one '
                      'frontal face')
    _copy(audio, audio_destination)
  _copy(video, root / 'video' / f'{identity}.mp4')
  for folder in ('label', 'landmark'):
    (root / folder).mkdir(parents=True, exist_ok=True)
  ranges = annvi_format.frame_ranges(a.frame for a in report.annotations)
  (root / 'label' / f'{identity}.txt').write_text(annvi_format.format_ranges(ranges))
  (root / 'landmark' / f'{identity}.txt').write_text(
      ''.join(annvi_format.format_line(a) + '\n' for a in report.annotations))
  return report
