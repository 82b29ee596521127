"""AnnVI's raw text formats: landmark lines and usable-frame ranges (docs/paper_and_code.md §5).

Landmark line, one per usable frame:

  {frame}.jpg W-H x0-y0 x1-y1 ... x105-y105 p0 p1 p2 e0 e1

W-H is the video frame size, xi-yi a point in frame pixels (a point just off
the frame has a negative coordinate, written `-3.250--1.500`), p the head pose
(pitch, roll, yaw) in radians and e the blink ratios (left, right eye).
Label line: `l r`, an inclusive range of usable 0-based frame indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import dataclasses
import re

import numpy as np

from apb2face_jax.data.layout import NUM_POINTS
from apb2face_jax.errors import UserError

_NUMBER = r'-?\d+(?:\.\d+)?'
_PAIR = re.compile(rf'^({_NUMBER})-({_NUMBER})$')
_NAME = re.compile(r'^(\d+)\.jpg$')
_NUM_FIELDS = 2 + NUM_POINTS + 3 + 2


@dataclasses.dataclass(frozen=True)
class FrameAnnotation:
  """The annotation of one video frame."""
  frame: int  # 0-based frame index
  width: int
  height: int
  points: np.ndarray  # (106, 2) float, frame pixels
  pose: np.ndarray  # (3,) pitch, roll, yaw in radians
  blink: np.ndarray  # (2,) left, right eye height / width


def format_line(annotation: FrameAnnotation) -> str:
  """The landmark-file line of one frame (no newline)."""
  points = ' '.join(f'{x:.3f}-{y:.3f}' for x, y in annotation.points)
  values = ' '.join(f'{v:.6f}' for v in (*annotation.pose, *annotation.blink))
  return (f'{annotation.frame}.jpg {annotation.width}-{annotation.height} '
          f'{points} {values}')


def _pair(text: str, where: str) -> tuple[float, float]:
  match = _PAIR.match(text)
  if match is None:
    raise UserError(f'{where}: "{text}" is not a "a-b" number pair; fix or '
                    're-create the landmark file with python -m apb2face_jax.annotate')
  return float(match.group(1)), float(match.group(2))


def parse_line(line: str, where: str = 'landmark line') -> FrameAnnotation:
  """Parses one landmark-file line; `where` names it in error messages."""
  fields = line.split()
  if len(fields) != _NUM_FIELDS:
    raise UserError(f'{where}: expected {_NUM_FIELDS} fields, found {len(fields)}; '
                    're-create the file with python -m apb2face_jax.annotate')
  name = _NAME.match(fields[0])
  if name is None:
    raise UserError(f'{where}: frame name "{fields[0]}" is not "<index>.jpg"')
  width, height = _pair(fields[1], where)
  points = np.array([_pair(f, where) for f in fields[2:2 + NUM_POINTS]])
  try:
    values = np.array([float(f) for f in fields[2 + NUM_POINTS:]])
  except ValueError as error:
    raise UserError(f'{where}: pose/blink values are not numbers ({error})') from None
  if not (np.all(np.isfinite(points)) and np.all(np.isfinite(values))):
    raise UserError(f'{where}: contains NaN or infinite values; re-annotate the video')
  return FrameAnnotation(int(name.group(1)), int(width), int(height), points,
                         values[:3], values[3:])


def frame_ranges(frames: Iterable[int]) -> list[tuple[int, int]]:
  """Inclusive (l, r) runs of consecutive frame indices, in order."""
  ranges: list[tuple[int, int]] = []
  for frame in sorted(set(frames)):
    if ranges and frame == ranges[-1][1] + 1:
      ranges[-1] = (ranges[-1][0], frame)
    else:
      ranges.append((frame, frame))
  return ranges


def format_ranges(ranges: Sequence[tuple[int, int]]) -> str:
  """The label-file text of the given ranges."""
  return ''.join(f'{left} {right}\n' for left, right in ranges)


def parse_ranges(text: str, where: str = 'label file') -> list[tuple[int, int]]:
  """Parses label-file text into inclusive (l, r) ranges."""
  ranges = []
  for number, line in enumerate(text.splitlines(), 1):
    if not line.strip():
      continue
    fields = line.split()
    if len(fields) != 2 or not all(f.isdigit() for f in fields):
      raise UserError(f'{where}, line {number}: expected "l r" (two frame indices), '
                      f'found "{line.strip()}"')
    left, right = int(fields[0]), int(fields[1])
    if left > right:
      raise UserError(f'{where}, line {number}: range {left} {right} ends before it starts')
    ranges.append((left, right))
  return ranges
