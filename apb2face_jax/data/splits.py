"""A prepared `tfds_annvi` split in memory: numeric columns, identities, JPEG frames decoded on demand.

Reads the array_record files with `tfds.data_source` (no TensorFlow, no JAX).
"""

import dataclasses
import functools
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from apb2face_jax.data.images import unit_range
from apb2face_jax.errors import UserError

COLUMNS = ("landmarks", "pose", "blink", "mfcc", "frame")


@dataclasses.dataclass
class Split:
  """One split in memory: numeric columns, identity ids, and lazily decoded images."""
  columns: dict[str, np.ndarray]
  identity: np.ndarray            # (N,) int32 index into `identity_names`
  identity_names: list[str]
  images: Sequence[Any]           # data source; `images[i]["image"]` is JPEG bytes
  fps: float

  def __len__(self) -> int:
    return len(self.identity)

  @functools.cached_property
  def same_identity_pools(self) -> list[np.ndarray]:
    """Indices of each identity's frames (computed once, read by every batch)."""
    return [np.flatnonzero(self.identity == k) for k in range(len(self.identity_names))]

  @functools.cached_property
  def frame_shape(self) -> tuple[int, ...]:
    return decode_frames(self, np.zeros(1, np.int64)).shape[1:]


def _plain(value: Any) -> Any:
  return value.decode() if isinstance(value, bytes) else value


def load(builder: Any, split: str, extra: tuple[str, ...] = ()) -> Split:
  """Reads a split of a prepared `tfds_annvi` builder into a `Split` (plus the `extra` feature columns)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
  n = len(source)
  if n == 0:
    raise UserError(f"split '{split}' of {builder.info.full_name} is empty: the dataset holds too few frames.")
  records = source.__getitems__(list(range(n)))
  columns = {k: np.stack([np.asarray(_plain(r[k])) for r in records]) for k in COLUMNS + tuple(extra)}
  names_per_record = [str(_plain(r["identity"])) for r in records]
  names = sorted(set(names_per_record))
  identity = np.asarray([names.index(x) for x in names_per_record], np.int32)
  return Split(columns=columns, identity=identity, identity_names=names, images=source,
               fps=float(records[0]["fps"]))


def load_columns(builder: Any, split_names: Sequence[str], extra: tuple[str, ...] = ()
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
  """The numeric (and `extra`) columns of several splits in one table: (columns, identity per row, names)."""
  parts = [load(builder, s, extra) for s in split_names]
  names = sorted({n for p in parts for n in p.identity_names})
  identity = np.concatenate([np.asarray([names.index(p.identity_names[i]) for i in p.identity], np.int64)
                             for p in parts])
  columns = {k: np.concatenate([p.columns[k] for p in parts]) for k in parts[0].columns}
  return columns, identity, names


def prepare(config: Any) -> Any:
  """Builds the configured `tfds_annvi` config on first use and returns its builder."""
  import tfds_annvi  # pylint: disable=g-import-not-at-top

  return tfds_annvi.prepare(config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir)


# The data record of weights whose training data is not known (converted, or made by a benchmark).
UNKNOWN_DATA = {"dataset": None, "data_dir": None, "manual_dir": None, "fps": None, "mfcc_mode": None,
                "centre": None}


def record(builder: Any, train: Split, manual_dir: str | None = None) -> dict[str, Any]:
  """What generation needs of the training data, stored with each checkpoint.

  The dataset's name, folder and raw root (for recorded pose/blink tracks and
  the full frame's background video), frame rate, MFCC mode, and the signals'
  centre: mean training pose, median (open) and 1st-percentile (closed) blink.
  """
  blink = train.columns["blink"]
  return {"dataset": builder.builder_config.name, "data_dir": str(builder.data_dir_root), "manual_dir": manual_dir,
          "fps": train.fps, "mfcc_mode": builder.builder_config.mfcc_mode,
          "centre": {"pose": train.columns["pose"].mean(0).tolist(), "eye_open": np.median(blink, 0).tolist(),
                     "eye_closed": np.percentile(blink, 1, axis=0).tolist()}}


def decode_frames(split: Split, indices: np.ndarray) -> np.ndarray:
  """(B, H, W, 3) uint8 from the stored JPEGs."""
  records = split.images.__getitems__([int(i) for i in indices])
  return np.stack([np.asarray(Image.open(io.BytesIO(r["image"])).convert("RGB")) for r in records])


def decode_images(split: Split, indices: np.ndarray) -> np.ndarray:
  """(B, H, W, 3) float32 in [-1, 1] from the stored JPEGs."""
  return unit_range(decode_frames(split, indices))
