"""TFDS `tfds_annvi` -> host batches whose order is a pure function of (seed, step).

The training process reads the array_record files with `tfds.data_source`
(no TensorFlow). Everything but the face images is loaded once into numpy
columns; images stay JPEG bytes and are decoded per batch. Each example comes
with a reference frame (a random other frame of the same identity and split),
drawn from (seed, step), which the conditional discriminators see.

Because batch `s` depends on nothing but `(seed, s)`, a resumed run sees exactly
the batches an uninterrupted run would have seen.
"""

import concurrent.futures
import dataclasses
import functools
import io
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from PIL import Image

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


def load_split(builder: Any, split: str) -> Split:
  """Reads a split of a prepared `tfds_annvi` builder into a `Split`."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  source = builder.as_data_source(split, decoders={"image": tfds.decode.SkipDecoding()})
  n = len(source)
  if n == 0:
    raise UserError(f"split '{split}' of {builder.info.full_name} is empty: the dataset holds too few frames.")
  records = source.__getitems__(list(range(n)))
  columns = {k: np.stack([np.asarray(r[k]) for r in records]) for k in COLUMNS}
  names_per_record = [r["identity"].decode() if isinstance(r["identity"], bytes) else str(r["identity"])
                      for r in records]
  names = sorted(set(names_per_record))
  identity = np.asarray([names.index(x) for x in names_per_record], np.int32)
  return Split(columns=columns, identity=identity, identity_names=names, images=source,
               fps=float(records[0]["fps"]))


def prepare_dataset(config: Any) -> Any:
  """Builds the configured `tfds_annvi` config on first use and returns its builder."""
  import tfds_annvi  # pylint: disable=g-import-not-at-top

  return tfds_annvi.prepare(config.dataset, data_dir=config.data_dir, manual_dir=config.manual_dir)


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
  if n_examples < batch_size:
    raise UserError(f"the training split has {n_examples} frames, fewer than config.batch_size={batch_size}: "
                    "lower --config.batch_size or use more data.")
  return n_examples // batch_size


def train_indices(n_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Global batch `step`: a slice of the epoch's seeded permutation (remainder dropped)."""
  per_epoch = n_examples // batch_size
  epoch, k = divmod(step, per_epoch)
  order = np.random.default_rng([seed, epoch]).permutation(n_examples)
  return order[k * batch_size:(k + 1) * batch_size]


def reference_indices(split: Split, indices: np.ndarray, seed: int, step: int) -> np.ndarray:
  """For each example, a random other frame of the same identity (itself if it is alone)."""
  rng = np.random.default_rng([seed, step, 1])
  pools = split.same_identity_pools
  refs = []
  for i in indices:
    pool = pools[split.identity[i]]
    if len(pool) == 1:
      refs.append(i)
      continue
    j = pool[rng.integers(len(pool) - 1)]
    refs.append(j if j != i else pool[-1])
  return np.asarray(refs)


def decode_images(split: Split, indices: np.ndarray) -> np.ndarray:
  """(B, H, W, 3) float32 in [-1, 1] from the stored JPEGs."""
  records = split.images.__getitems__([int(i) for i in indices])
  pixels = [np.asarray(Image.open(io.BytesIO(r["image"])).convert("RGB")) for r in records]
  return np.stack(pixels).astype(np.float32) / 127.5 - 1.0


def gather(split: Split, indices: np.ndarray, features: Sequence[str], prefix: str = "") -> dict[str, np.ndarray]:
  batch = {}
  for name in features:
    value = decode_images(split, indices) if name == "image" else split.columns[name][indices]
    batch[prefix + name] = value.astype(np.float32) if value.dtype == np.float64 else value
  return batch


def make_batch(split: Split, indices: np.ndarray, ref_indices: np.ndarray, features: Sequence[str],
               reference_features: Sequence[str]) -> dict[str, np.ndarray]:
  return {**gather(split, indices, features), **gather(split, ref_indices, reference_features, "ref_")}


def train_batches(split: Split, global_batch: int, host_part: slice, seed: int, start_step: int,
                  features: Sequence[str], reference_features: Sequence[str],
                  prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
  """This host's part of global batches `start_step, start_step + 1, ...`, prefetched in a thread."""

  def batch_at(step: int) -> dict[str, np.ndarray]:
    idx = train_indices(len(split), global_batch, seed, step)[host_part]
    return make_batch(split, idx, reference_indices(split, idx, seed, step), features, reference_features)

  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    pending = [pool.submit(batch_at, start_step + i) for i in range(prefetch)]
    step = start_step + prefetch
    while True:
      batch = pending.pop(0).result()
      pending.append(pool.submit(batch_at, step))
      step += 1
      yield batch


def eval_batches(split: Split, global_batch: int, host_part: slice, features: Sequence[str],
                 reference_features: Sequence[str], limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
  """The split in order, padded to whole global batches; `weight` is 0 on padding."""
  n = len(split) if limit is None else min(limit, len(split))
  for start in range(0, n, global_batch):
    idx = np.arange(start, start + global_batch)
    weight = (idx < n).astype(np.float32)
    idx = np.minimum(idx, n - 1)[host_part]
    refs = reference_indices(split, idx, seed=0, step=start)
    yield {**make_batch(split, idx, refs, features, reference_features), "weight": weight[host_part]}
