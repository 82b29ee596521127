"""TFDS `tfds_annvi` -> batches whose rows are a pure function of (seed, step).

The training process reads the array_record files with `tfds.data_source`
(no TensorFlow). Everything but the face images is loaded once into numpy
columns; images stay JPEG bytes until a batch needs them. Each example comes
with a reference frame (a random other frame of the same identity and split),
drawn from (seed, step), which the conditional discriminators see. Frames reach
the step as uint8; `model_input` maps them to [-1, 1] on the device.

Because global batch `s` depends on nothing but `(seed, s)`, a resumed run sees
exactly the batches an uninterrupted run would have seen, and a run on any
number of processes sees the batches of a one-process run: each process takes
its rows of the same global batch.

Two ways to feed the step (`Feed`):
- `host`: grain decodes each batch's JPEGs in `workers` threads, `prefetch`
  batches ahead of the step (Pillow and numpy release the GIL while decoding).
- `device`: each split's frames are decoded once and kept, with the numeric
  columns, on every device; a batch is then a gather on the device.
"""

import functools
import os
from collections.abc import Iterator, Sequence
from typing import Any

import grain
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from apb2face_jax.data import images, splits
from apb2face_jax.train import parallel
from apb2face_jax.errors import UserError

MODES = ("auto", "host", "device")


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
  if n_examples < batch_size:
    raise UserError(f"the training split has {n_examples} frames, fewer than config.batch_size={batch_size}: "
                    "lower --config.batch_size or use more data.")
  return n_examples // batch_size


def train_indices(n_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """Global batch `step`: a slice of the epoch's seeded permutation (remainder dropped)."""
  per_epoch = n_examples // batch_size
  epoch, k = divmod(step, per_epoch)
  order = _epoch_order(n_examples, seed, epoch)
  return order[k * batch_size:(k + 1) * batch_size]


@functools.lru_cache(maxsize=2)
def _epoch_order(n_examples: int, seed: int, epoch: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(n_examples)


def reference_indices(split: splits.Split, indices: np.ndarray, seed: int, step: int) -> np.ndarray:
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


def train_rows(split: splits.Split, global_batch: int, seed: int, step: int) -> tuple[np.ndarray, np.ndarray]:
  """(rows, reference rows) of global batch `step`, the same on every process."""
  idx = train_indices(len(split), global_batch, seed, step)
  return idx, reference_indices(split, idx, seed, step)


def eval_rows(split: splits.Split, global_batch: int, start: int, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(rows, reference rows, weight) of the global eval batch at `start`; weight 0 pads past `limit`."""
  idx = np.arange(start, start + global_batch)
  weight = (idx < limit).astype(np.float32)
  idx = np.minimum(idx, limit - 1)
  return idx, reference_indices(split, idx, seed=0, step=start), weight


def model_input(batch: dict[str, Any]) -> dict[str, Any]:
  """A batch as the networks take it: uint8 frames to [-1, 1] (inside the jitted step)."""
  return {k: images.unit_range(v) if v.dtype == jnp.uint8 else v for k, v in batch.items()}


def column(split: splits.Split, name: str, rows: Any = slice(None)) -> np.ndarray:
  """Rows of a numeric column as the step takes it (float64 stored values as float32)."""
  value = split.columns[name][rows]
  return value.astype(np.float32) if value.dtype == np.float64 else value


def gather(split: splits.Split, indices: np.ndarray, features: Sequence[str], prefix: str = "") -> dict[str, np.ndarray]:
  return {prefix + name: splits.decode_frames(split, indices) if name == "image" else column(split, name, indices)
          for name in features}


def make_batch(split: splits.Split, indices: np.ndarray, ref_indices: np.ndarray, features: Sequence[str],
               reference_features: Sequence[str]) -> dict[str, np.ndarray]:
  return {**gather(split, indices, features), **gather(split, ref_indices, reference_features, "ref_")}


def eval_batches(split: splits.Split, global_batch: int, host_part: slice, features: Sequence[str],
                 reference_features: Sequence[str], limit: int | None = None) -> Iterator[dict[str, np.ndarray]]:
  """This process's rows of the split in order, padded to whole global batches; `weight` is 0 on padding."""
  n = len(split) if limit is None else min(limit, len(split))
  for start in range(0, n, global_batch):
    idx, refs, weight = (x[host_part] for x in eval_rows(split, global_batch, start, n))
    yield {**make_batch(split, idx, refs, features, reference_features), "weight": weight}


def default_workers() -> int:
  """Decode threads when the config says -1: the cores this process may use (at most 32)."""
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
  return max(1, min(32, cores))


def host_train_batches(split: splits.Split, global_batch: int, host_part: slice, seed: int, start_step: int,
                       num_steps: int, features: Sequence[str], reference_features: Sequence[str],
                       workers: int = 1, prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
  """This process's rows of global batches `start_step, ..., start_step + num_steps - 1`.

  grain maps step -> batch in `workers` threads and keeps `prefetch` batches
  ready; with `workers=0` each batch is made in the caller's thread when asked.
  """

  def batch_at(step: int) -> dict[str, np.ndarray]:
    idx, refs = (x[host_part] for x in train_rows(split, global_batch, seed, step))
    return make_batch(split, idx, refs, features, reference_features)

  steps = grain.MapDataset.range(start_step, start_step + num_steps).map(batch_at)
  options = grain.ReadOptions(num_threads=workers, prefetch_buffer_size=prefetch if workers else 0)
  return iter(steps.to_iter_dataset(options))


def resident_bytes(splits: Sequence[splits.Split], features: Sequence[str]) -> int:
  """Bytes one device holds when `splits` are device-resident for `features`."""
  total = 0
  for split in splits:
    for name in set(features):
      shape = split.frame_shape if name == "image" else split.columns[name].shape[1:]
      itemsize = 1 if name == "image" else split.columns[name].dtype.itemsize
      total += len(split) * int(np.prod(shape)) * itemsize
  return total


def device_memory_bytes() -> int:
  """Memory of one local device; CPU devices share the host's RAM."""
  stats = jax.local_devices()[0].memory_stats()
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // jax.local_device_count()


def choose_mode(mode: str, splits: Sequence[splits.Split], features: Sequence[str], fraction: float) -> str:
  """'host' or 'device'; 'auto' is 'device' when the splits fit `fraction` of one device's memory."""
  if mode not in MODES:
    raise UserError(f"config.input_pipeline={mode!r} is not valid: use one of {MODES}.")
  if mode != "auto":
    return mode
  need = resident_bytes(splits, features)
  if jax.local_devices()[0].platform == "cpu":
    need *= 2  # CPU devices live in the RAM that also holds the decoded copy while it is put there
  return "device" if need <= fraction * device_memory_bytes() else "host"


def decode_split(split: splits.Split, workers: int, chunk: int = 64, desc: str = "decode") -> np.ndarray:
  """Every frame of `split` as one (N, H, W, 3) uint8 array, decoded in `workers` threads."""
  frames = np.empty((len(split), *split.frame_shape), np.uint8)
  starts = grain.MapDataset.range(0, len(split), chunk)
  chunks = starts.map(lambda s: (s, splits.decode_frames(split, np.arange(s, min(s + chunk, len(split))))))
  options = grain.ReadOptions(num_threads=max(1, workers), prefetch_buffer_size=2 * max(1, workers))
  with tqdm(total=len(split), desc=desc, unit="frame", mininterval=2.0, disable=jax.process_index() != 0) as bar:
    for start, part in chunks.to_iter_dataset(options):
      frames[start:start + len(part)] = part
      bar.update(len(part))
  return frames


class Feed:
  """Global batches (arrays split over the mesh's `data` axis) for training and evaluation."""

  def __init__(self, mode: str, train: splits.Split, test: splits.Split, mesh: jax.sharding.Mesh, global_batch: int, seed: int,
               features: Sequence[str], reference_features: Sequence[str], workers: int, prefetch: int):
    self.mode, self.mesh, self.global_batch, self.seed = mode, mesh, global_batch, seed
    self.features, self.reference_features = tuple(features), tuple(reference_features)
    self.workers, self.prefetch = workers, prefetch
    self.splits = {"train": train, "test": test}
    self.host_part = parallel.host_slice(global_batch)
    self._resident: dict[str, dict[str, jax.Array]] = {}
    if mode == "device":
      needed = sorted(set(self.features) | set(self.reference_features))
      for name, split in self.splits.items():
        host = {k: column(split, k) for k in needed if k != "image"}
        if "image" in needed:
          host["image"] = decode_split(split, workers, desc=f"decode {name} split to device")
        self._resident[name] = parallel.replicate(host, mesh)
        del host  # the decoded copy goes before the next split is decoded
      self._gather = jax.jit(self._rows, out_shardings=parallel.data_sharded(mesh))

  def describe(self) -> str:
    if self.mode == "device":
      gib = sum(x.nbytes for s in self._resident.values() for x in jax.tree.leaves(s)) / 2**30
      return f"input: device-resident ({gib:.2f} GiB per device)"
    return f"input: host, {self.workers} decode thread(s), {self.prefetch} batches ahead"

  def _rows(self, resident: dict[str, jax.Array], idx: jax.Array, refs: jax.Array,
            extra: dict[str, jax.Array]) -> dict[str, jax.Array]:
    batch = {k: resident[k][idx] for k in self.features}
    batch.update({"ref_" + k: resident[k][refs] for k in self.reference_features})
    return {**batch, **extra}

  def _device_batch(self, split: str, idx: np.ndarray, refs: np.ndarray, extra: dict[str, np.ndarray]):
    rows = parallel.replicate((idx.astype(np.int32), refs.astype(np.int32), extra), self.mesh)
    return self._gather(self._resident[split], *rows)

  def train(self, start_step: int, num_steps: int) -> Iterator[dict[str, jax.Array]]:
    """Global batches `start_step, start_step + 1, ...` (`num_steps` of them)."""
    split = self.splits["train"]
    if self.mode == "device":
      for step in range(start_step, start_step + num_steps):
        yield self._device_batch("train", *train_rows(split, self.global_batch, self.seed, step), {})
      return
    batches = host_train_batches(split, self.global_batch, self.host_part, self.seed, start_step, num_steps,
                                 self.features, self.reference_features, self.workers, self.prefetch)
    for batch in batches:
      yield parallel.shard_batch(batch, self.mesh)

  def evaluation(self, split: str = "test") -> Iterator[dict[str, jax.Array]]:
    """The whole split in order, padded to whole global batches; `weight` is 0 on padding."""
    data = self.splits[split]
    if self.mode == "device":
      for start in range(0, len(data), self.global_batch):
        idx, refs, weight = eval_rows(data, self.global_batch, start, len(data))
        yield self._device_batch(split, idx, refs, {"weight": weight})
      return
    for batch in eval_batches(data, self.global_batch, self.host_part, self.features, self.reference_features):
      yield parallel.shard_batch(batch, self.mesh)
