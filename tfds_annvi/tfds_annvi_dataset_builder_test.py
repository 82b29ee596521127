"""Tests of the tfds_annvi builder on dummy_data/ (a synthetic raw AnnVI root)."""

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow_datasets as tfds

from apb2face_jax.errors import UserError
from tfds_annvi import tfds_annvi_dataset_builder as annvi

DUMMY = pathlib.Path(__file__).parent / "dummy_data"
REPO = pathlib.Path(__file__).parent.parent


class BuilderTest(tfds.testing.DatasetBuilderTestCase):
  """The TFDS checks; the harness passes dummy_data/ as the manual dir."""
  DATASET_CLASS = annvi.Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["annvi"]
  # person_a: 9 labelled frames -> 8 / 1; person_b: 6 -> 5 / 1.
  SPLITS = {"train": 13, "test": 2}
  SKIP_CHECKSUMS = True


def _prepare(tmp_path, manual_dir, config="annvi"):
  return annvi.prepare(config, data_dir=os.fspath(tmp_path / "data"),
                       manual_dir=None if manual_dir is None
                       else os.fspath(manual_dir))


def test_examples_and_split(tmp_path):
  builder = _prepare(tmp_path, DUMMY)
  train = builder.as_data_source("train")
  test = builder.as_data_source("test")
  frames = {(r["identity"].decode(), int(r["frame"]))
            for s in (train, test) for r in s}
  assert frames == ({("person_a", n) for n in (0, 1, 2, 3, 4, 6, 7, 8, 9)}
                    | {("person_b", n) for n in range(6)})
  example = train[0]
  assert example["image"].shape == (256, 256, 3)
  assert example["landmarks"].shape == (106, 2)
  assert example["mfcc"].shape == (64, 60)
  assert example["pose"].shape == (3,) and example["blink"].shape == (2,)
  assert example["fps"] == pytest.approx(10.0)
  # The landmark box fills the middle of the crop: half side 1 / 1.4 of it.
  lo, hi = example["landmarks"].min(0), example["landmarks"].max(0)
  assert np.max(hi - lo) == pytest.approx(256 / 1.4, rel=1e-4)
  np.testing.assert_allclose((lo + hi) / 2, [128, 128], atol=1e-3)
  # The same seed gives the same split.
  again = _prepare(tmp_path / "again", DUMMY).as_data_source("test")
  assert [int(r["frame"]) for r in again] == [int(r["frame"]) for r in test]


def test_prepare_unknown_config(tmp_path):
  with pytest.raises(UserError, match="no config 'annvi2'"):
    _prepare(tmp_path, DUMMY, "annvi2")


@pytest.mark.parametrize("make", ["none", "missing", "empty"])
def test_manual_dir_needed(tmp_path, make):
  manual = {"none": None, "missing": tmp_path / "raw",
            "empty": tmp_path / "empty"}[make]
  if make == "empty":
    manual.mkdir()
  with pytest.raises(UserError, match="needs an AnnVI raw root") as e:
    _prepare(tmp_path, manual)
  assert "--manual_dir" in str(e.value)
  if manual is not None:
    assert os.fspath(manual) in str(e.value)


def _broken_root(tmp_path, breaker) -> pathlib.Path:
  root = tmp_path / "raw"
  shutil.copytree(DUMMY, root)
  breaker(root)
  return root


def _nan_landmark(root):
  path = root / "landmark" / "person_b.txt"
  lines = path.read_text().splitlines(keepends=True)
  tokens = lines[2].split()
  tokens[109] = "nan"
  lines[2] = " ".join(tokens) + "\n"
  path.write_text("".join(lines))


@pytest.mark.parametrize("breaker,message", [
    (lambda r: (r / "label" / "person_b.txt").unlink(),
     r"label/person_b.txt is missing"),
    (lambda r: (r / "audio" / "person_a.wav").write_bytes(b"junk" * 64),
     r"person_a.wav could not be decoded"),
    (_nan_landmark, r"landmark/person_b.txt line 3: holds NaN"),
])
def test_bad_input_fails_cleanly(tmp_path, breaker, message):
  root = _broken_root(tmp_path, breaker)
  with pytest.raises(UserError, match=message):
    _prepare(tmp_path, root)
  data = tmp_path / "data"
  assert not tfds.builder_cls("tfds_annvi")(
      config="annvi", data_dir=os.fspath(data)).is_prepared()


def test_failure_midway_leaves_nothing_prepared(tmp_path, monkeypatch):
  """A failure while writing examples leaves no dataset that looks complete."""
  calls = []

  def crop_then_fail(image, box, size):
    calls.append(1)
    if len(calls) > 3:
      raise RuntimeError("simulated crash")
    return np.zeros((size, size, 3), np.uint8)

  monkeypatch.setattr(annvi.crops, "crop_image", crop_then_fail)
  with pytest.raises(RuntimeError, match="simulated crash"):
    _prepare(tmp_path, DUMMY)
  data = tmp_path / "data"
  builder = annvi.Builder(config="annvi", data_dir=os.fspath(data))
  assert not builder.is_prepared()
  assert not list(data.rglob("dataset_info.json"))
  monkeypatch.undo()
  assert _prepare(tmp_path, DUMMY).info.splits["train"].num_examples == 13


def test_build_and_read_without_tensorflow(tmp_path):
  """prepare() + data_source in a fresh process never import TensorFlow."""
  script = textwrap.dedent(f"""
      import sys
      import tensorflow_datasets as tfds
      import tfds_annvi
      b = tfds_annvi.prepare("annvi", data_dir={os.fspath(tmp_path)!r},
                             manual_dir={os.fspath(DUMMY)!r})
      ex = tfds.data_source("tfds_annvi/annvi", data_dir={os.fspath(tmp_path)!r},
                            split="train")[0]
      print({{k: getattr(v, "shape", v) for k, v in ex.items()}})
      assert "tensorflow" not in sys.modules, "TensorFlow was imported"
  """)
  env = dict(os.environ, PYTHONPATH=os.fspath(REPO))
  result = subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "'mfcc': (64, 60)" in result.stdout


@pytest.mark.skipif(not (annvi.SAMPLE_DIR / "landmark" / "carphone.txt").exists(),
                    reason="the embedded sample is not there yet")
def test_sample_config(tmp_path):
  builder = _prepare(tmp_path, None, "sample")
  splits = builder.info.splits
  assert splits["train"].num_examples + splits["test"].num_examples > 0
  assert builder.as_data_source("test")[0]["identity"] == b"carphone"


def test_time_ordered_split(tmp_path):
  """`annvi_time`: the last 10 % of each clip (whole frames, at least one) is test."""
  builder = _prepare(tmp_path, DUMMY, "annvi_time")
  test = sorted((r["identity"].decode(), int(r["frame"]))
                for r in builder.as_data_source("test"))
  assert test == [("person_a", 9), ("person_b", 5)]
  assert builder.info.splits["train"].num_examples == 13
