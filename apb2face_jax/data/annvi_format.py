"""AnnVI's raw text formats: landmark lines and usable-frame ranges (docs/paper_and_code.md §5).

Landmark line, one per usable frame:

  {frame}.jpg W-H x0-y0 x1-y1 ... x105-y105 p0 p1 p2 e0 e1

W-H is the video frame size, xi-yi a point in frame pixels (a point just off
the frame has a negative coordinate, written `-3.250--1.500`), p the head pose
(pitch, roll, yaw) in radians and e the blink ratios (left, right eye).
Label line: `l r`, an inclusive range of usable 0-based frame indices.

The one reader and writer of both: the annotator writes them, `raw_annvi` reads
them (and checks them against the video).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from apb2face_jax.data.layout import NUM_POINTS
from apb2face_jax.errors import UserError

N_TOKENS = 2 + NUM_POINTS + 3 + 2  # name, W-H, the points, pose, blink
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf(?:inity)?)"
# 'x-y' with signed x and y: '-3.5-10' is (-3.5, 10), '3--2' is (3, -2).
_POINT = re.compile(rf"({_NUMBER})-({_NUMBER})", re.IGNORECASE)
_SIZE = re.compile(r"(\d+)-(\d+)")
_NAME = re.compile(r"(\d+)\.jpg")


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
  points = " ".join(f"{x:.3f}-{y:.3f}" for x, y in annotation.points)
  values = " ".join(f"{v:.6f}" for v in (*annotation.pose, *annotation.blink))
  return f"{annotation.frame}.jpg {annotation.width}-{annotation.height} {points} {values}"


def _number(token: str, where: str) -> float:
  try:
    return float(token)
  except ValueError:
    raise UserError(f"{where}: {token!r} is not a number.") from None


def parse_line(line: str, where: str = "landmark line") -> FrameAnnotation:
  """Parses one landmark-file line; `where` names it in error messages."""
  tokens = line.split()
  if len(tokens) != N_TOKENS:
    raise UserError(f"{where}: expected {N_TOKENS} tokens (name, W-H, {NUM_POINTS} x-y points, 3 pose, "
                    f"2 blink), got {len(tokens)}.")
  name = _NAME.fullmatch(tokens[0])
  if not name:
    raise UserError(f"{where}: first token {tokens[0]!r} is not '{{frame}}.jpg'.")
  size = _SIZE.fullmatch(tokens[1])
  if not size:
    raise UserError(f"{where}: image size {tokens[1]!r} is not 'W-H'.")
  points = []
  for token in tokens[2:2 + NUM_POINTS]:
    point = _POINT.fullmatch(token)
    if not point:
      raise UserError(f"{where}: {token!r} is not an 'x-y' point.")
    points.append([float(point.group(1)), float(point.group(2))])
  values = [_number(t, where) for t in tokens[2 + NUM_POINTS:]]
  landmarks = np.asarray(points, np.float64)
  frame = int(name.group(1))
  if not np.all(np.isfinite(landmarks)) or not all(map(math.isfinite, values)):
    raise UserError(f"{where}: holds NaN or inf; re-run the annotator for frame {frame} or drop it from the labels.")
  return FrameAnnotation(frame, int(size.group(1)), int(size.group(2)), landmarks,
                         np.asarray(values[:3], np.float64), np.asarray(values[3:], np.float64))


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
  return "".join(f"{left} {right}\n" for left, right in ranges)


def _frame_index(token: str, where: str) -> int:
  try:
    value = float(token)
  except ValueError:
    raise UserError(f"{where}: {token!r} is not a frame index.") from None
  if not value.is_integer() or value < 0:
    raise UserError(f"{where}: {token!r} is not a frame index (a whole number >= 0).")
  return int(value)


def numbered_ranges(text: str, where: str = "label file") -> list[tuple[int, tuple[int, int]]]:
  """Parses label-file text into (line number, inclusive (l, r) range) pairs."""
  ranges = []
  for number, line in enumerate(text.splitlines(), 1):
    tokens = line.split()
    if not tokens:
      continue
    here = f"{where} line {number}"
    if len(tokens) != 2:
      raise UserError(f"{here}: expected 'first last' (two frame indices), got {len(tokens)} tokens.")
    first, last = (_frame_index(t, here) for t in tokens)
    if first > last:
      raise UserError(f"{here}: range {first}..{last} is reversed; write the first frame first.")
    ranges.append((number, (first, last)))
  return ranges


def parse_ranges(text: str, where: str = "label file") -> list[tuple[int, int]]:
  """Parses label-file text into inclusive (l, r) ranges."""
  return [r for _, r in numbered_ranges(text, where)]
