"""The restricted .t7 reader and the `annvi_features` builder config.

The fixtures in tfds_annvi/dummy_data_t7/ were written by real torch 2.13
(tools/make_t7_fixtures.py): `alice` in the zip format, `bob` in the legacy
one. These tests need no torch.
"""

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from apb2face_jax.data import annvi_features, torch_save
from apb2face_jax.errors import UserError
from tests.conftest import write_legacy

T7_ROOT = Path(__file__).resolve().parents[1] / "tfds_annvi" / "dummy_data_t7"
FEATURE = T7_ROOT / "feature"
REFUSED = T7_ROOT / "refused"


@pytest.mark.parametrize("identity,is_zip", [("alice", True), ("bob", False)])
def test_reads_both_formats(identity, is_zip):
  path = FEATURE / identity / "256_train.t7"
  assert zipfile.is_zipfile(path) == is_zip
  data = torch_save.load(path)
  assert sorted(data) == sorted(annvi_features.KEYS)
  n = len(data["img_paths"])
  assert all(len(data[k]) == n for k in annvi_features.KEYS)
  assert data["img_paths"][0][0].startswith("256_image_crop/")
  assert data["audio_features"][0].shape == (64, 60)
  assert data["audio_features"][0].dtype == np.float32
  assert len(data["lands"][0]) == 212 and isinstance(data["lands"][0][0], float)


@pytest.mark.parametrize("name", ["foreign_zip.t7", "foreign_legacy.t7"])
def test_refuses_a_foreign_global(name):
  with pytest.raises(UserError, match=r"pickle global '(posix|nt|os)\.system'") as e:
    torch_save.load(REFUSED / name)
  assert name in str(e.value)


@pytest.mark.parametrize("name", ["tensor_zip.t7", "tensor_legacy.t7"])
def test_refuses_torch_tensors(name):
  with pytest.raises(UserError, match=r"torch\._utils\._rebuild_tensor_v2.*"
                                      r"Torch tensors are not supported"):
    torch_save.load(REFUSED / name)


def test_numpy_scalars_and_arrays_round_trip(tmp_path):
  obj = {"a": [np.float32(1.5), np.int64(3)], "b": np.arange(6.0).reshape(2, 3),
         "c": ("text", b"bytes", 2.5, None, True)}
  write_legacy(tmp_path / "x.t7", obj)
  got = torch_save.load(tmp_path / "x.t7")
  assert got["a"] == [1.5, 3] and got["a"][0].dtype == np.float32
  np.testing.assert_array_equal(got["b"], obj["b"])
  assert got["c"] == obj["c"]


def test_codecs_encode_only_latin1(tmp_path):
  # A protocol-2 pickle calling _codecs.encode('x', 'rot13').
  body = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00xX\x05\x00\x00\x00rot13\x86R."
  path = tmp_path / "x.t7"
  with open(path, "wb") as f:
    for part in (torch_save.LEGACY_MAGIC, torch_save.LEGACY_PROTOCOL, {}):
      pickle.dump(part, f, protocol=2)
    f.write(body)
  with pytest.raises(UserError, match="not a readable torch.save file"):
    torch_save.load(path)


@pytest.mark.parametrize("content,message", [
    (pickle.dumps({"img_paths": []}), "neither a zip nor a legacy"),
    (b"", "not a readable torch.save file"),
    (b"\x80\x02garbage", "not a readable torch.save file"),
])
def test_refuses_non_torch_files(tmp_path, content, message):
  path = tmp_path / "x.t7"
  path.write_bytes(content)
  with pytest.raises(UserError, match=message):
    torch_save.load(path)


def test_zip_without_data_pkl(tmp_path):
  path = tmp_path / "x.t7"
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("x/version", "3")
  with pytest.raises(UserError, match="data.pkl"):
    torch_save.load(path)


def test_feature_split_matches_the_file():
  raw = torch_save.load(FEATURE / "alice" / "256_test.t7")
  split = annvi_features.read_split(T7_ROOT, "alice", "test")
  assert split.frames.tolist() == [3, 8]
  np.testing.assert_allclose(split.landmarks[1].reshape(-1), raw["lands"][1], rtol=1e-6)
  np.testing.assert_array_equal(split.mfcc[0], raw["audio_features"][0])
  assert split.image_paths[0] == os.path.join(FEATURE, "alice", "256_image_crop", "3.jpg")


def test_annvi_features_config(tmp_path):
  import tfds_annvi  # pylint: disable=g-import-not-at-top

  builder = tfds_annvi.prepare("annvi_features", data_dir=os.fspath(tmp_path),
                               manual_dir=os.fspath(T7_ROOT))
  splits = {s: sorted((r["identity"].decode(), int(r["frame"]))
                      for r in builder.as_data_source(s)) for s in ("train", "test")}
  assert splits["test"] == [("alice", 3), ("alice", 8), ("bob", 12)]
  assert len(splits["train"]) == 11 and ("bob", 10) in splits["train"]
  example = next(r for r in builder.as_data_source("test") if r["frame"] == 12)
  expected = annvi_features.read_split(T7_ROOT, "bob", "test")
  assert example["image"].shape == (256, 256, 3)
  np.testing.assert_array_equal(example["landmarks"], expected.landmarks[0])
  np.testing.assert_array_equal(example["mfcc"], expected.mfcc[0])
  np.testing.assert_array_equal(example["pose"], expected.pose[0])
  assert example["fps"] == 30.0
