"""The catalogue of bad inputs: each ends in one UserError naming the file and
the problem, with no dataset left that looks complete, and the command line
prints it as one line, no traceback.

Raw-layout cases break a copy of tfds_annvi/dummy_data/, feature-layout cases a
copy of tfds_annvi/dummy_data_t7/, annotator cases use its command line.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from apb2face_jax.errors import UserError
from tests.conftest import write_legacy
from tfds_annvi import tfds_annvi_dataset_builder as annvi

REPO = Path(__file__).resolve().parents[1]
RAW = REPO / "tfds_annvi" / "dummy_data"
FEATURES = REPO / "tfds_annvi" / "dummy_data_t7"


def _line(path: Path, index: int, edit) -> None:
  """Replaces line `index` of a text file by edit(tokens) joined."""
  lines = path.read_text().splitlines()
  lines[index] = " ".join(edit(lines[index].split()))
  path.write_text("\n".join(lines) + "\n")


def _wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1,
         amplitude: float = 0.3) -> None:
  t = np.arange(int(seconds * rate)) / rate
  tone = amplitude * np.sin(2 * np.pi * 220 * t)
  soundfile.write(path, np.repeat(tone[:, None], channels, 1), rate)


def _t7_edit(identity: str, split: str, edit):
  """Rewrites feature/{identity}/256_{split}.t7 (legacy format) after edit(data)."""
  def breaker(root: Path) -> None:
    from apb2face_jax.data import torch_save  # pylint: disable=g-import-not-at-top
    path = root / "feature" / identity / f"256_{split}.t7"
    data = torch_save.load(path)
    edit(data)
    write_legacy(path, data)
  return breaker


def _set(key, i, value):
  def edit(data):
    data[key][i] = value
  return edit


# (kind, layout, breaker(root), file the message names, what it says)
RAW_CASES = [
    ("missing folder", lambda r: shutil.rmtree(r / "landmark"),
     "", r"has no landmark folder"),
    ("missing label file", lambda r: (r / "label" / "person_b.txt").unlink(),
     "label/person_b.txt", r"is missing"),
    ("missing audio file", lambda r: (r / "audio" / "person_a.wav").unlink(),
     "audio", r"has no audio for 'person_a'"),
    ("two audio files", lambda r: shutil.copy(r / "audio" / "person_a.wav",
                                              r / "audio" / "person_a.flac"),
     "person_a", r"several audio files"),
    ("empty audio", lambda r: (r / "audio" / "person_a.wav").write_bytes(b""),
     "audio/person_a.wav", r"is empty \(0 bytes\)"),
    ("silent audio", lambda r: _wav(r / "audio" / "person_a.wav", 1.5, amplitude=0),
     "audio/person_a.wav", r"is silent"),
    ("unreadable audio",
     lambda r: (r / "audio" / "person_b.wav").write_bytes(b"RIFF junk" * 50),
     "audio/person_b.wav", r"could not be decoded"),
    ("sample rate below 8 kHz",
     lambda r: _wav(r / "audio" / "person_a.wav", 1.5, rate=4000),
     "audio/person_a.wav", r"sample rate 4000 Hz, below the supported 8000"),
    ("8-channel audio",
     lambda r: _wav(r / "audio" / "person_a.wav", 1.5, channels=8),
     "audio/person_a.wav", r"has 8 channels; mono or stereo"),
    ("audio shorter than the video",
     lambda r: _wav(r / "audio" / "person_a.wav", 0.3),
     "audio/person_a.wav", r"Video frame \d+ .* lies past the end of"),
    ("corrupt video",
     lambda r: (r / "video" / "person_b.mp4").write_bytes(b"\x00\x00\x00 ftypisom junk"),
     "video/person_b.mp4", r"cannot be decoded by OpenCV|empty or corrupt"),
    ("landmark line with the wrong count",
     lambda r: _line(r / "landmark" / "person_a.txt", 1, lambda t: t[:-1]),
     "landmark/person_a.txt line 2", r"expected 113 tokens .* got 112"),
    ("landmark NaN",
     lambda r: _line(r / "landmark" / "person_a.txt", 0,
                     lambda t: t[:5] + ["nan-3.0"] + t[6:]),
     "landmark/person_a.txt line 1", r"holds NaN or inf"),
    ("landmark size not the video's",
     lambda r: _line(r / "landmark" / "person_b.txt", 0,
                     lambda t: [t[0], "640-480"] + t[2:]),
     "landmark/person_b.txt line 1", r"'640-480' is not the video's 96-80"),
    ("labels past the video's end (frame counts differ)",
     lambda r: (r / "label" / "person_b.txt").write_text("0 50\n"),
     "label/person_b.txt line 1", r"runs past the video's last frame"),
    ("labelled frame without landmarks (frame counts differ)",
     lambda r: _line(r / "landmark" / "person_b.txt", 2,
                     lambda t: ["99.jpg"] + t[1:]),
     "landmark/person_b.txt", r"no line for 1 labelled frame\(s\) \(first: 2\.jpg"),
]

FEATURE_CASES = [
    ("no feature folder", lambda r: shutil.rmtree(r / "feature"),
     "", r"has no feature/ folder"),
    ("missing .t7", lambda r: (r / "feature" / "bob" / "256_test.t7").unlink(),
     "feature/bob/256_test.t7", r"is missing: every identity folder"),
    (".t7 with a foreign pickle global",
     lambda r: shutil.copy(r / "refused" / "foreign_zip.t7",
                           r / "feature" / "alice" / "256_train.t7"),
     "feature/alice/256_train.t7", r"pickle global '(posix|nt|os)\.system'"),
    (".t7 with a torch tensor",
     lambda r: shutil.copy(r / "refused" / "tensor_legacy.t7",
                           r / "feature" / "bob" / "256_train.t7"),
     "feature/bob/256_train.t7", r"Torch tensors are not supported"),
    ("truncated .t7",
     lambda r: (r / "feature" / "bob" / "256_train.t7").write_bytes(
         (r / "feature" / "bob" / "256_train.t7").read_bytes()[:5000]),
     "feature/bob/256_train.t7", r"not a readable torch.save file"),
    (".t7 with landmarks of the wrong count",
     _t7_edit("alice", "test", _set("lands", 0, [1.0] * 200)),
     "feature/alice/256_test.t7", r"lands\[0\] has shape \(200,\), expected \(212,\)"),
    (".t7 with a NaN MFCC",
     _t7_edit("bob", "test", _set("audio_features", 0, np.full((64, 60), np.nan,
                                                               np.float32))),
     "feature/bob/256_test.t7", r"audio_features\[0\] holds NaN"),
    (".t7 lists of different lengths",
     _t7_edit("bob", "train", lambda d: d["poses"].pop()),
     "feature/bob/256_train.t7", r"must be lists of one length"),
    (".t7 image path outside the identity",
     _t7_edit("bob", "test", _set("img_paths", 0, ["../alice/256_image_crop/3.jpg", ""])),
     "feature/bob/256_test.t7 img_paths[0]", r"is not '256_image_crop/\{frame\}.jpg'"),
    ("frame in both splits",
     _t7_edit("bob", "test", _set("img_paths", 0, ["256_image_crop/10.jpg", ""])),
     "feature/bob/256_test.t7", r"both hold frame 10"),
    ("corrupt JPEG",
     lambda r: (r / "feature" / "alice" / "256_image_crop" / "3.jpg").write_bytes(
         (r / "feature" / "alice" / "256_image_crop" / "3.jpg").read_bytes()[:300]),
     "feature/alice/256_image_crop/3.jpg", r"is not a readable JPEG"),
    ("missing JPEG",
     lambda r: (r / "feature" / "bob" / "256_image_crop" / "11.jpg").unlink(),
     "feature/bob/256_image_crop/11.jpg", r"is missing: the .t7 file names it"),
]


def _assert_nothing_prepared(data: Path, config: str) -> None:
  assert not annvi.Builder(config=config, data_dir=os.fspath(data)).is_prepared()
  assert not list(data.rglob("dataset_info.json"))


def _build_fails(tmp_path, source, config, breaker) -> str:
  root = tmp_path / "root"
  shutil.copytree(source, root)
  breaker(root)
  with pytest.raises(UserError) as e:
    annvi.prepare(config, data_dir=os.fspath(tmp_path / "data"),
                  manual_dir=os.fspath(root))
  _assert_nothing_prepared(tmp_path / "data", config)
  return str(e.value).replace(os.fspath(root) + os.sep, "ROOT/")


@pytest.mark.parametrize("kind,breaker,where,what", RAW_CASES,
                         ids=[c[0] for c in RAW_CASES])
def test_raw_layout(tmp_path, kind, breaker, where, what):
  del kind
  message = _build_fails(tmp_path, RAW, "annvi", breaker)
  assert where in message and "\n" not in message
  assert re.search(what, message), message


@pytest.mark.parametrize("kind,breaker,where,what", FEATURE_CASES,
                         ids=[c[0] for c in FEATURE_CASES])
def test_feature_layout(tmp_path, kind, breaker, where, what):
  del kind
  message = _build_fails(tmp_path, FEATURES, "annvi_features", breaker)
  assert where in message and "\n" not in message
  assert re.search(what, message), message


def test_missing_root(tmp_path):
  with pytest.raises(UserError, match="needs an AnnVI raw root") as e:
    annvi.prepare("annvi", data_dir=os.fspath(tmp_path / "data"),
                  manual_dir=os.fspath(tmp_path / "nowhere"))
  assert os.fspath(tmp_path / "nowhere") in str(e.value)
  _assert_nothing_prepared(tmp_path / "data", "annvi")


@pytest.mark.parametrize("identity", ["../evil", "a/b", "a\\b", ".."])
def test_identity_with_path_separators(identity):
  from apb2face_jax.data import raw_annvi  # pylint: disable=g-import-not-at-top
  from apb2face_jax.data.layout import check_identity  # pylint: disable=g-import-not-at-top

  with pytest.raises(UserError, match="is not a usable identity name"):
    raw_annvi.read_identity(RAW, identity)
  with pytest.raises(UserError, match="is not a usable identity name"):
    check_identity(identity, "--id")


def _cli(args: list[str]) -> subprocess.CompletedProcess:
  env = dict(os.environ, PYTHONPATH=os.fspath(REPO), JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=300)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
  assert result.returncode == 2, result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  errors = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
  assert len(errors) == 1, result.stderr[-2000:]
  return errors[0]


def test_launch_prints_one_line(tmp_path):
  root = tmp_path / "root"
  shutil.copytree(RAW, root)
  _wav(root / "audio" / "person_b.wav", 1.0, amplitude=0)
  result = _cli(["launch.py", "--config", "configs/predictor.py",
                 "--workdir", os.fspath(tmp_path / "w"), "--config.dataset=annvi",
                 f"--config.manual_dir={root}", f"--config.data_dir={tmp_path / 'data'}",
                 "--config.num_train_steps=1"])
  line = _one_line_error(result)
  assert f"{root}/audio/person_b.wav is silent" in line
  _assert_nothing_prepared(tmp_path / "data", "annvi")


@pytest.mark.parametrize("case", ["bad id", "missing video"])
def test_annotator_prints_one_line(tmp_path, case):
  video = RAW / "video" / "person_a.mp4"
  args = {"bad id": [os.fspath(video), "--id", "../x"],
          "missing video": [os.fspath(tmp_path / "none.mp4"), "--id", "x"]}[case]
  result = _cli(["-m", "apb2face_jax.annotate", *args, "--root",
                 os.fspath(tmp_path / "raw")])
  line = _one_line_error(result)
  assert {"bad id": '--id "../x" is not a usable identity name',
          "missing video": f"video {tmp_path / 'none.mp4'} does not exist"}[case] in line
  assert not (tmp_path / "raw").exists()


def test_annotator_video_without_face(tmp_path):
  """A clip with no face anywhere: one error, and no label/landmark written."""
  pytest.importorskip("mediapipe")
  from apb2face_jax.annotate import pipeline  # pylint: disable=g-import-not-at-top
  import cv2  # pylint: disable=g-import-not-at-top

  video = tmp_path / "blank.mp4"
  writer = cv2.VideoWriter(os.fspath(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 80))
  for i in range(5):
    writer.write(np.full((80, 96, 3), 40 * i, np.uint8))
  writer.release()
  audio = tmp_path / "speech.wav"
  _wav(audio, 0.5)
  with pytest.raises(UserError, match=rf"no usable face in any of the 5 frames of {video}"):
    pipeline.annotate_video(video, tmp_path / "raw", "blank", audio=audio,
                            show_progress=False)
  assert not list((tmp_path / "raw").rglob("*.txt"))


def test_a_workdir_or_output_that_is_a_file_gives_one_line(tmp_path):
  from apb2face_jax import jobs  # pylint: disable=g-import-not-at-top
  from configs import predictor as predictor_config  # pylint: disable=g-import-not-at-top
  taken = tmp_path / "taken"
  taken.write_text("")
  for workdir in (taken, taken / "below"):
    with pytest.raises(UserError, match=f"--workdir {re.escape(str(workdir))} is a file, not a folder"):
      jobs.run(predictor_config.get_config(), workdir=str(workdir))
