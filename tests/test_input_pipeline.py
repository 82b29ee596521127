"""The input pipeline: batches are a pure function of (seed, step) however they are made."""

import jax
import numpy as np
import pytest

from apb2face_jax.data import splits
from apb2face_jax.train import input_pipeline, parallel
from apb2face_jax.errors import UserError

FEATURES, REFERENCE = ("image", "landmarks", "mfcc", "frame"), ("image", "landmarks")


@pytest.fixture(scope="module")
def prepared(data_dir) -> dict[str, splits.Split]:
  import tfds_annvi  # pylint: disable=g-import-not-at-top
  builder = tfds_annvi.Builder(config="annvi", data_dir=str(data_dir), file_format="array_record")
  return {s: splits.load(builder, s) for s in ("train", "test")}


def host_batches(split, host_part, workers, steps=5, start=3, global_batch=4):
  return list(input_pipeline.host_train_batches(split, global_batch, host_part, 0, start, steps, FEATURES, REFERENCE,
                                                workers=workers, prefetch=2 * max(1, workers)))


def assert_same_batches(a: list[dict], b: list[dict]) -> None:
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert sorted(x) == sorted(y)
    for k in x:
      np.testing.assert_array_equal(np.asarray(x[k]), np.asarray(y[k]), err_msg=k)


@pytest.mark.parametrize("count", [1, 2, 4])
def test_processes_read_disjoint_rows_that_together_are_the_global_batch(count):
  rows = [np.arange(8)[parallel.host_slice(8, i, count)] for i in range(count)]
  assert all(len(r) == 8 // count for r in rows)
  np.testing.assert_array_equal(np.concatenate(rows), np.arange(8))


def test_each_process_gets_its_rows_of_the_one_process_batch(prepared):
  train = prepared["train"]
  whole = host_batches(train, slice(None), workers=0)
  halves = [host_batches(train, parallel.host_slice(4, i, 2), workers=0) for i in range(2)]
  joined = [{k: np.concatenate([h0[k], h1[k]]) for k in h0} for h0, h1 in zip(*halves)]
  assert_same_batches(whole, joined)
  assert whole[0]["image"].dtype == np.uint8 and whole[0]["image"].shape == (4, 256, 256, 3)
  assert not np.array_equal(whole[0]["frame"], whole[1]["frame"])  # the steps differ


def test_parallel_decoding_yields_the_single_thread_batches(prepared):
  assert_same_batches(host_batches(prepared["train"], slice(None), workers=0),
                      host_batches(prepared["train"], slice(None), workers=3))


def test_device_resident_batches_equal_host_batches(prepared):
  mesh = parallel.make_mesh(jax.devices()[:2])
  feeds = {mode: input_pipeline.Feed(mode, prepared["train"], prepared["test"], mesh, 4, 0, FEATURES, REFERENCE,
                                     workers=2, prefetch=2) for mode in ("host", "device")}
  assert "device-resident" in feeds["device"].describe()
  train = {m: [jax.device_get(b) for b in f.train(2, 4)] for m, f in feeds.items()}
  assert_same_batches(train["host"], train["device"])
  evaluation = {m: [jax.device_get(b) for b in f.evaluation()] for m, f in feeds.items()}
  assert_same_batches(evaluation["host"], evaluation["device"])
  assert evaluation["host"][0]["weight"].tolist() == [1, 1, 0, 0]  # 2 test frames padded to a batch of 4
  leaf = next(feeds["device"].train(0, 1))["image"]
  assert leaf.sharding.spec == jax.sharding.PartitionSpec(parallel.DATA_AXIS)


def test_auto_mode_goes_by_the_memory_fraction(prepared):
  pair = (prepared["train"], prepared["test"])
  size = input_pipeline.resident_bytes(pair, FEATURES + REFERENCE)
  assert size == 15 * (256 * 256 * 3 + 106 * 2 * 4 + 64 * 60 * 4 + 8)  # frame: int64
  assert input_pipeline.choose_mode("auto", pair, FEATURES, fraction=0.0) == "host"
  assert input_pipeline.choose_mode("auto", pair, FEATURES, fraction=0.5) == "device"
  with pytest.raises(UserError, match="config.input_pipeline='gpu' is not valid"):
    input_pipeline.choose_mode("gpu", pair, FEATURES, fraction=0.5)


def test_model_input_maps_frames_to_unit_range_and_keeps_the_rest():
  batch = {"image": np.array([[0, 255]], np.uint8), "landmarks": np.array([3.0], np.float32)}
  out = input_pipeline.model_input(batch)
  np.testing.assert_array_equal(out["image"], [[-1.0, 1.0]])
  assert out["image"].dtype == np.float32 and out["landmarks"] is batch["landmarks"]
