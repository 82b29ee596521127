"""tools/make_synthetic_annvi.py: a tiny synthetic AnnVI root is well formed, deterministic and builds."""

import os

import cv2
import numpy as np
import pytest
import soundfile

from apb2face_jax.data import raw_annvi
from tools import make_synthetic_annvi as synthetic

SIZE = (320, 240)
FPS = 30.0
SCALE = 0.005
IDENTITIES = ("man1", "woman2")


def write(root, *extra: str, identities=IDENTITIES) -> int:
  return synthetic.main(["--out", os.fspath(root), "--scale", str(SCALE), "--size", "x".join(map(str, SIZE)),
                         "--identities", *identities, "--seed", "3", *extra])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  path = tmp_path_factory.mktemp("synthetic")
  assert write(path) == 0
  return path


def decoded_frames(path: str) -> int:
  capture = cv2.VideoCapture(path)
  count = 0
  while capture.grab():
    count += 1
  capture.release()
  return count


@pytest.mark.parametrize("identity", IDENTITIES)
def test_files_match_the_requested_frames(root, identity):
  n = synthetic.frame_count(identity, SCALE)
  assert n == round(synthetic.FRAME_COUNTS[identity] * SCALE)
  ident = raw_annvi.read_identity(root, identity)
  np.testing.assert_array_equal(ident.frames, np.arange(n))  # labels: every frame, once
  with open(root / "landmark" / f"{identity}.txt", encoding="utf-8") as f:
    assert sum(1 for line in f if line.strip()) == n
  assert (ident.fps, ident.frame_count, ident.frame_size) == (FPS, n, SIZE)
  assert decoded_frames(ident.video_path) == n
  info = soundfile.info(ident.audio_path)
  assert (info.samplerate, info.channels) == (synthetic.SAMPLE_RATE, 1)
  assert info.duration >= n / FPS
  assert np.all(ident.landmarks >= 0) and np.all(ident.landmarks < SIZE)
  low, high = synthetic.POSE_RANGE.T
  assert np.all(ident.pose >= low) and np.all(ident.pose <= high)
  assert np.all((ident.blink > 0.05) & (ident.blink < 0.5))


def test_deterministic_per_identity_and_refuses_a_full_root(root, tmp_path, capsys):
  assert write(tmp_path, identities=("woman2",)) == 0
  for folder, name in (("landmark", "woman2.txt"), ("audio", "woman2.wav")):
    assert (tmp_path / folder / name).read_bytes() == (root / folder / name).read_bytes()
  capsys.readouterr()
  assert write(tmp_path) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "--overwrite" in err
  assert write(tmp_path, "--overwrite") == 0
  assert sorted(os.listdir(tmp_path / "video")) == ["man1.mp4", "woman2.mp4"]


def test_builds_one_example_per_frame(root, tmp_path):
  import tfds_annvi  # pylint: disable=g-import-not-at-top  (slow import)

  builder = tfds_annvi.prepare("annvi", data_dir=os.fspath(tmp_path), manual_dir=os.fspath(root))
  splits = builder.info.splits
  assert splits["train"].num_examples + splits["test"].num_examples == sum(
      synthetic.frame_count(name, SCALE) for name in IDENTITIES)
