"""Pose and blink tracks that drive generation: natural, constant, CSV, or recorded.

A track maps video frame indices (n,) to values: pose (n, 3) in radians in
AnnVI's stored order (pitch, roll, yaw; signs as in `annotate/pose.py`), blink
(n, 2) (left, right eye height / width on the 256 crop). Tracks are functions
of the frame index, so a stream asking for frames chunk by chunk gets exactly
what one call for all frames gets.

`parse_track(spec, kind, ...)` reads the config strings:
  'natural'                  smooth head motion / blinks at a human rate, seeded
  'yaw=0.2,pitch=0'          constants (pose: pitch, roll, yaw; blink: left, right);
                             an unnamed value stays at the natural centre
  'path/to/track.csv'        one row per frame, header naming the columns
                             (pose: pitch, roll, yaw; blink: blink_left, blink_right)
  'dataset:IDENTITY[@SPLIT]' the recorded signals of an identity of the predictor's
                             dataset (SPLIT: all (default), train or test), played
                             forwards then backwards when the audio is longer
"""

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from apb2face_jax.errors import UserError

Track = Callable[[np.ndarray], np.ndarray]

POSE_NAMES = ("pitch", "roll", "yaw")  # AnnVI's stored order (annotate/pose.py, docs/paper_and_code.md §5)
BLINK_NAMES = ("left", "right")
CSV_COLUMNS = {"pose": POSE_NAMES, "blink": tuple(f"blink_{n}" for n in BLINK_NAMES)}
# Paper (docs/paper_and_code.md §5): AnnVI's pose ranges in radians, (min, max) per (pitch, roll, yaw).
ANNVI_POSE_RANGE = np.array([(-0.367, 0.379), (-0.502, 0.509), (-0.354, 0.196)])


@dataclasses.dataclass(frozen=True)
class Centre:
  """The neutral pose and eye openness the natural motion moves around."""
  pose: np.ndarray            # (3,) pitch, roll, yaw
  eye_open: np.ndarray        # (2,) blink value of open eyes
  eye_closed: np.ndarray      # (2,) blink value of closed eyes


@dataclasses.dataclass(frozen=True)
class NaturalMotion:
  """Smooth head motion and blinks; every number is our choice unless noted."""
  pose_amplitude: tuple[float, float, float] = (0.04, 0.03, 0.08)  # radians (pitch, roll, yaw): about a
  # quarter of the half-widths of AnnVI's ranges (0.37, 0.51, 0.28), a calm speaker
  pose_periods_s: tuple[float, float] = (2.0, 9.0)  # each angle sums 3 sines with periods drawn in this range
  blinks_per_minute: float = 17.0   # spontaneous blink rate of adults at rest (about 15-20 per minute)
  min_blink_gap_s: float = 1.0      # no two blinks closer than this
  blink_duration_s: float = 0.2     # closed-and-open again (the sample's blinks dip over 3 frames at 29.97 fps)

  def pose_track(self, centre: Centre, fps: float, seed: int) -> Track:
    rng = np.random.default_rng([seed, 0])
    periods = rng.uniform(*self.pose_periods_s, size=(3, 3))  # (angle, component)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 3))
    weights = rng.dirichlet(np.ones(3), size=3)               # components of an angle sum to its amplitude

    def track(frames: np.ndarray) -> np.ndarray:
      t = np.asarray(frames, np.float64)[:, None, None] / fps
      wave = np.sum(weights * np.sin(2 * np.pi * t / periods + phases), axis=-1)  # (n, 3) in [-1, 1]
      pose = centre.pose + np.asarray(self.pose_amplitude) * wave
      return np.clip(pose, *ANNVI_POSE_RANGE.T).astype(np.float32)

    return track

  def blink_track(self, centre: Centre, fps: float, seed: int) -> Track:
    rng = np.random.default_rng([seed, 1])
    mean_gap = 60.0 / self.blinks_per_minute
    times: list[float] = []

    def blink_times(until: float) -> np.ndarray:
      while not times or times[-1] < until + self.blink_duration_s:  # drawn in order: a function of time
        previous = times[-1] if times else 0.0
        times.append(previous + self.min_blink_gap_s + rng.exponential(mean_gap - self.min_blink_gap_s))
      return np.asarray(times)

    def track(frames: np.ndarray) -> np.ndarray:
      t = np.asarray(frames, np.float64) / fps
      if t.size == 0:
        return np.zeros((0, 2), np.float32)
      starts = blink_times(float(t.max()))
      phase = (t[:, None] - starts[None, :]) / self.blink_duration_s  # in [0, 1] during a blink
      closure = np.max(np.where((phase >= 0) & (phase <= 1), np.sin(np.pi * np.clip(phase, 0, 1)), 0.0), axis=1)
      blink = centre.eye_open + closure[:, None] * (centre.eye_closed - centre.eye_open)
      return blink.astype(np.float32)

    return track


def constant_track(values: np.ndarray) -> Track:
  values = np.asarray(values, np.float32)
  return lambda frames: np.broadcast_to(values, (len(frames), values.size)).copy()


def table_track(values: np.ndarray, what: str) -> Track:
  """Row n of `values` for frame n; a frame past the end is an error naming `what`."""
  values = np.asarray(values, np.float32)

  def track(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.size and frames.max() >= len(values):
      raise UserError(f"{what} has {len(values)} frames but frame {int(frames.max())} is needed: the audio "
                      "is longer than the track; give one row per video frame (duration x fps).")
    return values[frames]

  return track


def looped_track(values: np.ndarray) -> Track:
  """Plays `values` forwards, then backwards, then forwards, ... (no jump at the ends)."""
  values = np.asarray(values, np.float32)
  cycle = np.concatenate([np.arange(len(values)), np.arange(len(values) - 2, 0, -1)])
  return lambda frames: values[cycle[np.asarray(frames) % len(cycle)]]


def parse_constants(spec: str, kind: str, centre: Centre) -> np.ndarray:
  names = POSE_NAMES if kind == "pose" else BLINK_NAMES
  values = np.array(centre.pose if kind == "pose" else centre.eye_open, np.float32)
  for item in spec.split(","):
    name, _, value = item.partition("=")
    name = name.strip().lower()
    if name not in names:
      raise UserError(f"{kind}={spec!r}: {name!r} is not a {kind} value; name some of {', '.join(names)} "
                      f"(e.g. {names[-1]}=0.2).")
    try:
      values[names.index(name)] = float(value)
    except ValueError:
      raise UserError(f"{kind}={spec!r}: {value.strip()!r} is not a number.") from None
  return values


def read_csv(path: str | Path, kind: str) -> np.ndarray:
  """The (frames, 3 or 2) columns of `kind` from a CSV track with a header row."""
  columns = CSV_COLUMNS[kind]
  path = Path(path)
  if not path.is_file():
    raise UserError(f"{kind} track {path} does not exist: check the path.")
  with path.open(newline="") as f:
    rows = list(csv.reader(f))
  rows = [r for r in rows if any(cell.strip() for cell in r)]
  if len(rows) < 2:
    raise UserError(f"{kind} track {path} holds no data rows: write a header ({','.join(columns)}) and one "
                    "row per video frame.")
  header = [h.strip().lower() for h in rows[0]]
  missing = [c for c in columns if c not in header]
  if missing:
    raise UserError(f"{kind} track {path} lacks the column(s) {', '.join(missing)} (its header: "
                    f"{','.join(header)}): name them in the first row.")
  picks = [header.index(c) for c in columns]
  values = np.empty((len(rows) - 1, len(columns)), np.float32)
  for line, row in enumerate(rows[1:], start=2):
    if len(row) != len(header):
      raise UserError(f"{kind} track {path}, line {line}: {len(row)} fields where the header has {len(header)}.")
    try:
      values[line - 2] = [float(row[i]) for i in picks]
    except ValueError:
      raise UserError(f"{kind} track {path}, line {line}: {','.join(row)!r} holds a value that is not "
                      "a number.") from None
    if not np.all(np.isfinite(values[line - 2])):
      raise UserError(f"{kind} track {path}, line {line}: NaN or infinite value.")
  return values


def recorded(columns: dict[str, np.ndarray], identity_of: np.ndarray, names: list[str], identity: str,
             kind: str, where: str) -> np.ndarray:
  """The `kind` signal of `identity`'s frames in time order, from dataset columns."""
  if identity not in names:
    raise UserError(f"{kind}: identity {identity!r} is not in {where}; it holds {', '.join(names)}.")
  rows = np.flatnonzero(identity_of == names.index(identity))
  return columns[kind][rows[np.argsort(columns["frame"][rows])]]


def parse_track(spec: str, kind: str, *, fps: float, seed: int, centre: Centre,
                natural: NaturalMotion = NaturalMotion(), dataset: Callable[[str], tuple] | None = None) -> Track:
  """A `kind` ('pose' or 'blink') track from its config string (see the module docstring).

  `dataset(split)` returns (columns, identity, identity_names, description) of the
  predictor's dataset split ('train', 'test' or 'all'); None when it is not available.
  """
  spec = spec.strip()
  if spec == "natural":
    return (natural.pose_track if kind == "pose" else natural.blink_track)(centre, fps, seed)
  if spec.startswith("dataset:"):
    identity, _, split = spec[len("dataset:"):].partition("@")
    split = split or "all"
    if split not in ("all", "train", "test"):
      raise UserError(f"{kind}={spec!r}: split {split!r} is not one of all, train, test.")
    if dataset is None:
      raise UserError(f"{kind}={spec!r}: the predictor's dataset is not available here; build it (see "
                      "tfds_annvi/README.md) or use a CSV track.")
    columns, identity_of, names, where = dataset(split)
    return looped_track(recorded(columns, identity_of, names, identity, kind, where))
  if "=" in spec:
    return constant_track(parse_constants(spec, kind, centre))
  if spec.lower().endswith(".csv") or Path(spec).is_file():
    return table_track(read_csv(spec, kind), f"{kind} track {spec}")
  raise UserError(f"{kind}={spec!r} is not a {kind} source: use 'natural', constants like "
                  f"'{(POSE_NAMES if kind == 'pose' else BLINK_NAMES)[-1]}=0.2', a .csv track or "
                  "'dataset:IDENTITY[@SPLIT]'.")
