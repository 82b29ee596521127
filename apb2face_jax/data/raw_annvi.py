"""Reader of the raw AnnVI layout (docs/paper_and_code.md §5).

    ROOT/video/{id}.mp4
    ROOT/audio/{id}.m4a          (or .wav / .flac / .mp3)
    ROOT/label/{id}.txt          lines `l r`: usable frames l..r, inclusive
    ROOT/landmark/{id}.txt       lines `{frame}.jpg W-H x0-y0 ... x105-y105
                                        p0 p1 p2 e0 e1`

The usable frames of an identity are the union of its label ranges. Every one
of them must have a landmark line: a missing one is an error (not a silent
skip), so a dataset never loses frames without the user knowing. Landmark
lines of frames outside the labels are ignored. Landmarks are in the video's
pixels; pose is stored as (pitch, roll, yaw), blink as (left, right).
"""

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from apb2face_jax.data import annvi_format, media
from apb2face_jax.data.layout import check_identity
from apb2face_jax.errors import UserError

FOLDERS = ("video", "audio", "label", "landmark")
AUDIO_EXTENSIONS = (".m4a", ".wav", ".flac", ".mp3")


@dataclasses.dataclass(frozen=True)
class RawIdentity:
  """One identity's usable frames and the files they come from."""
  identity: str
  video_path: str
  audio_path: str
  fps: float
  frame_count: int
  frame_size: tuple[int, int]  # (width, height)
  frames: np.ndarray  # (N,) int64, ascending video frame indices
  landmarks: np.ndarray  # (N, 106, 2) float64, video pixels (x, y)
  pose: np.ndarray  # (N, 3) float64, (pitch, roll, yaw)
  blink: np.ndarray  # (N, 2) float64, (left, right)


def check_root(root: str | os.PathLike) -> str:
  """Returns `root` as a str after checking it holds the four AnnVI folders."""
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise UserError(f"AnnVI root {root} does not exist or is not a folder: "
                    "give the folder that holds video/, audio/, label/ and "
                    "landmark/.")
  missing = [f for f in FOLDERS if not os.path.isdir(os.path.join(root, f))]
  if missing:
    raise UserError(f"AnnVI root {root} has no {', '.join(missing)} folder(s): "
                    f"it must hold {', '.join(f + '/' for f in FOLDERS)}.")
  return root


def list_identities(root: str | os.PathLike) -> list[str]:
  """The identities of an AnnVI root (names of `video/*.mp4`), sorted."""
  root = check_root(root)
  ids = sorted(name[:-4] for name in os.listdir(os.path.join(root, "video"))
               if name.endswith(".mp4"))
  if not ids:
    raise UserError(f"AnnVI root {root}: video/ holds no .mp4 file; put "
                    "video/{id}.mp4 there for each identity.")
  return ids


def read_identity(root: str | os.PathLike, identity: str) -> RawIdentity:
  """Reads and checks the annotations of one identity."""
  root = check_root(root)
  check_identity(identity)
  video_path = _need_file(root, "video", identity + ".mp4")
  audio_path = _find_audio(root, identity)
  label_path = _need_file(root, "label", identity + ".txt")
  landmark_path = _need_file(root, "landmark", identity + ".txt")
  fps, frame_count, frame_size = video_info(video_path)
  frames = _read_labels(label_path, frame_count)
  table = _read_landmarks(landmark_path, frame_size)
  missing = [n for n in frames if n not in table]
  if missing:
    raise UserError(
        f"{landmark_path} has no line for {len(missing)} labelled frame(s) "
        f"(first: {missing[0]}.jpg; {label_path} names them): add their "
        "landmarks or narrow the label ranges.")
  rows = [table[n] for n in frames]
  return RawIdentity(
      identity=identity, video_path=video_path, audio_path=audio_path, fps=fps,
      frame_count=frame_count, frame_size=frame_size,
      frames=np.asarray(frames, np.int64),
      landmarks=np.stack([r[0] for r in rows]),
      pose=np.stack([r[1] for r in rows]),
      blink=np.stack([r[2] for r in rows]))


def video_info(path: str) -> tuple[float, int, tuple[int, int]]:
  """(fps, frame count, (width, height)) of a video, refused when the header says it is empty."""
  info = media.probe_video(Path(path))
  fps, count, size = info.fps, info.frame_count, (info.width, info.height)
  if not (math.isfinite(fps) and fps > 0) or count <= 0:
    raise UserError(f"Video {path} reports fps {fps}, {count} frames, size "
                    f"{size}: it is empty or corrupt; re-encode it.")
  return fps, count, size


def _need_file(root: str, folder: str, name: str) -> str:
  path = os.path.join(root, folder, name)
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing: every identity needs "
                    f"{folder}/{name}.")
  return path


def _find_audio(root: str, identity: str) -> str:
  found = [os.path.join(root, "audio", identity + ext)
           for ext in AUDIO_EXTENSIONS
           if os.path.isfile(os.path.join(root, "audio", identity + ext))]
  if not found:
    raise UserError(
        f"{os.path.join(root, 'audio')} has no audio for {identity!r}: add "
        f"audio/{identity}" + "{" + ",".join(AUDIO_EXTENSIONS) + "}.")
  if len(found) > 1:
    raise UserError(f"{identity!r} has several audio files ({', '.join(found)})"
                    ": keep exactly one.")
  return found[0]


def _read_labels(path: str, frame_count: int) -> list[int]:
  """The sorted, de-duplicated frame indices named by a label file."""
  with open(path, encoding="utf-8") as f:
    ranges = annvi_format.numbered_ranges(f.read(), path)
  for line_no, (first, last) in ranges:
    if last >= frame_count:
      raise UserError(f"{path} line {line_no}: range {first}..{last} runs past the video's last frame "
                      f"{frame_count - 1}: fix the label or use the matching video.")
  frames = sorted({n for _, (first, last) in ranges for n in range(first, last + 1)})
  if not frames:
    raise UserError(f"{path} names no frames: add lines 'first last'.")
  return frames


def _read_landmarks(path: str, frame_size: tuple[int, int]
                    ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
  """{frame: (landmarks (106, 2), pose (3,), blink (2,))} from a landmark file."""
  table = {}
  with open(path, encoding="utf-8") as f:
    for line_no, line in enumerate(f, 1):
      if not line.split():
        continue
      where = f"{path} line {line_no}"
      a = annvi_format.parse_line(line, where)
      if a.frame in table:
        raise UserError(f"{where}: frame {a.frame} appears twice; keep one line.")
      if (a.width, a.height) != frame_size:
        raise UserError(f"{where}: image size '{a.width}-{a.height}' is not the video's {frame_size[0]}-"
                        f"{frame_size[1]}: the landmarks must be in the video's pixels.")
      table[a.frame] = (a.points, a.pose, a.blink)
  return table
