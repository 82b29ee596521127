"""TFDS builder of AnnVI-style talking-face data: one example per video frame.

Reads a raw AnnVI root (`apb2face_jax.data.raw_annvi`) or the released AnnVI
features (`apb2face_jax.data.annvi_features`) and writes, per usable frame: the
256x256 face crop (docs/paper_and_code.md §5), its 106 landmarks in crop pixels, pose, blink, the
64x60 MFCC window and where the frame came from.

`BUILDER_CONFIGS` lists the configs that need no flags (the embedded sample),
so a plain `tfds build tfds_annvi` builds exactly those; the AnnVI configs,
which need `--manual_dir`, are selected by name (`--config annvi`).
"""

import dataclasses
import os
import pathlib
import zlib
from collections.abc import Iterator

import cv2
import numpy as np
import tensorflow_datasets as tfds

from apb2face_jax.data import annvi_features, audio, crops, media, raw_annvi
from apb2face_jax.data.layout import CROP_SIZE, NUM_POINTS
from apb2face_jax.errors import UserError
from tfds_annvi import speaker_source

JPEG_QUALITY = 95  # cv2.imwrite's default, which wrote the official crops
TRAIN_FRACTION = 0.9  # docs/paper_and_code.md §5: 90/10 per identity
SAMPLE_DIR = pathlib.Path(__file__).parent / "sample"
# The .t7 features store no frame rate; the AnnVI videos are YouTube clips,
# assumed 30 fps (the paper and the code state none). Override per config.
FEATURES_FPS = 30.0
SPLITS = ("random", "time")


@dataclasses.dataclass(eq=False)
class AnnviConfig(tfds.core.BuilderConfig):
  """source: 'sample' (embedded), 'manual' (raw root as --manual_dir),
  'features' (released AnnVI features, root holding feature/, as
  --manual_dir) or 'speaker' (downloaded on first use, speaker_source); MFCC delta mode (raw sources); per-identity 90/10 split of
  the raw sources: 'random' (seeded by split_seed) or 'time' (the last 10 % of
  each clip is test); frame rate given to 'features' frames, which the .t7
  files do not store."""
  source: str = "sample"
  mfcc_mode: audio.MfccMode = "compat"
  split: str = "random"
  split_seed: int = 0
  features_fps: float = FEATURES_FPS
  # The time split's train fraction, and the seconds of frames dropped before
  # the first test frame (no training MFCC window then overlaps a test one);
  # validation: the test frames are dropped and the training part is split
  # again the same way, its last part becoming the `test` split.
  train_fraction: float = TRAIN_FRACTION
  split_gap_s: float = 0.0
  validation: bool = False


def _config(name: str, source: str, mfcc_mode: str, what: str,
            split: str = "random") -> AnnviConfig:
  deltas = {"compat": "deltas across coefficients, as the official script "
                      "(reproduces the released features)",
            "corrected": "deltas along time (corrected)"}[mfcc_mode]
  order = {"random": "seeded random 90/10 split per identity",
           "time": "time-ordered split: the last 10 % of each clip is test"
           }[split]
  return AnnviConfig(name=name, source=source, mfcc_mode=mfcc_mode,
                     split=split,
                     description=f"{what}; MFCC {deltas}; {order}.")


_SAMPLE = "the embedded sample (one real clip, 'carphone', 120 frames)"
_ANNVI = "an AnnVI raw root given as --manual_dir"
_SPEAKER = ("two clips of one man talking to the camera with his own voice, "
            "downloaded on first use from the PyPI wheel psychopy==2026.2.5 "
            "(GPL-3.0-or-later) and annotated offline; one identity per clip")
# Issue #14: the last 15 % of each clip is test, after a gap of one MFCC window
# (64 hops of 512 at 44.1 kHz, 0.74 s) so test audio is unseen in training.
_SPEAKER_SPLIT = dict(source="speaker", split="time", train_fraction=0.85,
                      split_gap_s=audio.WINDOW * audio.HOP_LENGTH
                      / audio.SAMPLE_RATE)
SAMPLE_CONFIGS = (_config("sample", "sample", "compat", _SAMPLE),
                  _config("sample_corrected", "sample", "corrected", _SAMPLE))
MANUAL_CONFIGS = (
    _config("sample_time", "sample", "compat", _SAMPLE, "time"),
    _config("annvi", "manual", "compat", _ANNVI),
    _config("annvi_corrected", "manual", "corrected", _ANNVI),
    _config("annvi_time", "manual", "compat", _ANNVI, "time"),
    _config("annvi_corrected_time", "manual", "corrected", _ANNVI, "time"),
    AnnviConfig(name="annvi_features", source="features", description=(
        "the released AnnVI features (feature/{id}/256_{train,test}.t7 and "
        "256_image_crop/) under the root given as --manual_dir; MFCC as "
        "stored (deltas across coefficients); the files' own train/test "
        f"split; fps {FEATURES_FPS} (not stored in the files)")),
    AnnviConfig(name="speaker", **_SPEAKER_SPLIT, description=(
        f"{_SPEAKER}; time-ordered split: the last 15 % of each clip is test, "
        "the 0.74 s before it unused")),
    AnnviConfig(name="speaker_validation", **_SPEAKER_SPLIT, validation=True,
                description=(
                    f"{_SPEAKER}; validation slice for choosing settings: the "
                    "speaker test frames and gap dropped, the training part "
                    "split again the same way (its last 15 % as `test`)")),
    AnnviConfig(name="speaker_corrected", **_SPEAKER_SPLIT,
                mfcc_mode="corrected", description=(
                    "as `speaker`, with MFCC deltas along time (corrected)")),
    AnnviConfig(name="speaker_corrected_validation", **_SPEAKER_SPLIT,
                mfcc_mode="corrected", validation=True, description=(
                    "as `speaker_validation`, with MFCC deltas along time "
                    "(corrected)")))


class Builder(tfds.core.GeneratorBasedBuilder):
  """AnnVI frames with crops, landmarks, pose, blink and MFCC windows."""

  VERSION = tfds.core.Version("1.1.0")
  RELEASE_NOTES = {"1.0.0": "Initial release.",
                   "1.1.0": "Where each crop came from, for full-frame "
                            "paste-back: crop_box, video, video_size."}
  BUILDER_CONFIGS = list(SAMPLE_CONFIGS)
  MANUAL_DOWNLOAD_INSTRUCTIONS = """
  Put the raw AnnVI data in one folder (the manual dir) laid out as
  video/{id}.mp4, audio/{id}.m4a (or .wav/.flac/.mp3), label/{id}.txt,
  landmark/{id}.txt, and pass it with `--manual_dir`. For the config
  `annvi_features`, the manual dir holds the released
  feature/{id}/256_{train,test}.t7 and feature/{id}/256_image_crop/.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def builder_configs(cls) -> dict[str, tfds.core.BuilderConfig]:
    """All selectable configs: the default-built ones and the manual ones."""
    return {c.name: c for c in (*cls.BUILDER_CONFIGS, *MANUAL_CONFIGS)}

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(
                shape=(CROP_SIZE, CROP_SIZE, 3), encoding_format="jpeg"),
            "landmarks": tfds.features.Tensor(
                shape=(NUM_POINTS, 2), dtype=np.float32),
            "pose": tfds.features.Tensor(shape=(3,), dtype=np.float32),
            "blink": tfds.features.Tensor(shape=(2,), dtype=np.float32),
            "mfcc": tfds.features.Tensor(
                shape=(audio.WINDOW, 3 * audio.N_MFCC), dtype=np.float32),
            "identity": tfds.features.Text(),
            "frame": tfds.features.Scalar(dtype=np.int32),
            "fps": tfds.features.Scalar(dtype=np.float32),
            # Where the crop came from (zeros and '' for annvi_features,
            # whose files do not say): (x0, y0, side) in source pixels, the
            # video's path under the raw root, its (height, width).
            "crop_box": tfds.features.Tensor(shape=(3,), dtype=np.float32),
            "video": tfds.features.Text(),
            "video_size": tfds.features.Tensor(shape=(2,), dtype=np.int32),
        }),
        homepage="https://github.com/zhangzjn/APB2Face",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    """Reads and checks every identity before a single example is written."""
    root = self._raw_root(dl_manager)
    if self.builder_config.source == "features":
      splits = [annvi_features.read_identity(root, name)
                for name in annvi_features.list_identities(root)]
      return {s: self._generate_feature_examples([i[s] for i in splits])
              for s in annvi_features.SPLITS}
    if self.builder_config.split not in SPLITS:
      raise UserError(f"Config {self.builder_config.name!r} has split "
                      f"{self.builder_config.split!r}: use one of {SPLITS}.")
    identities = [raw_annvi.read_identity(root, name)
                  for name in raw_annvi.list_identities(root)]
    features = {}
    for ident in identities:
      y = audio.load_audio(ident.audio_path, audio.SAMPLE_RATE)
      features[ident.identity] = audio.mfcc_features(
          y, audio.SAMPLE_RATE, self.builder_config.mfcc_mode)
      # Fails now, naming the file, if the audio ends before the video.
      audio.frame_windows(features[ident.identity], ident.frames[-1:],
                          ident.fps, source=ident.audio_path)
    train, test = {}, {}
    for ident in identities:
      train[ident.identity], test[ident.identity] = self._split(ident)
    return {
        "train": self._generate_examples(identities, features, train),
        "test": self._generate_examples(identities, features, test),
    }

  def _raw_root(self, dl_manager: tfds.download.DownloadManager) -> str:
    if self.builder_config.source == "sample":
      return os.fspath(SAMPLE_DIR)
    if self.builder_config.source == "speaker":
      return os.fspath(speaker_source.prepare_root(
          pathlib.Path(dl_manager.download_dir)))
    try:
      return os.fspath(dl_manager.manual_dir)
    except AssertionError as e:  # TFDS: manual dir not given, missing, empty
      raise UserError(
          f"Config {self.builder_config.name!r} needs an AnnVI raw root as its "
          f"manual dir, and it has none ({str(e).split('. ')[0]}). Pass it: "
          f"`tfds build tfds_annvi --config {self.builder_config.name} "
          "--manual_dir DIR`, launch.py's `--config.manual_dir=DIR`, or "
          f"tfds_annvi.prepare({self.builder_config.name!r}, manual_dir=DIR); "
          "DIR holds "
          + ("feature/{id}/256_{train,test}.t7."
             if self.builder_config.source == "features"
             else "video/, audio/, label/, landmark/.")) from None

  def _split(self, ident: raw_annvi.RawIdentity
             ) -> tuple[np.ndarray, np.ndarray]:
    """90/10 split of one identity's frames (each sorted): seeded random, or
    time-ordered (the first 90 % train, the last 10 % test; or the config's
    fraction, gap and validation slice)."""
    c = self.builder_config
    if c.split == "time":
      train, test = ident.frames, None
      for _ in range(2 if c.validation else 1):
        n_train = int(len(train) * c.train_fraction)
        start = train[n_train]
        train, test = train[:n_train], train[n_train:]
        train = train[train < start - c.split_gap_s * ident.fps]
      return train, test
    n_train = int(len(ident.frames) * TRAIN_FRACTION)
    seed = [self.builder_config.split_seed, zlib.crc32(ident.identity.encode())]
    order = np.random.default_rng(seed).permutation(len(ident.frames))
    return (np.sort(ident.frames[order[:n_train]]),
            np.sort(ident.frames[order[n_train:]]))

  def _generate_examples(self, identities: list[raw_annvi.RawIdentity],
                         features: dict[str, np.ndarray],
                         frames: dict[str, np.ndarray]
                         ) -> Iterator[tuple[str, dict]]:
    for ident in identities:
      row = {int(n): i for i, n in enumerate(ident.frames)}
      for n, rgb in media.iter_frames(ident.video_path,
                                          frames[ident.identity]):
        i = row[n]
        box = crops.crop_box(ident.landmarks[i])
        crop = crops.crop_image(rgb, box, CROP_SIZE)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
          raise RuntimeError(f"OpenCV could not encode frame {n} as JPEG.")
        yield f"{ident.identity}/{n:06d}", {
            "image": jpeg.tobytes(),
            "landmarks": crops.to_crop_coords(
                ident.landmarks[i], box, CROP_SIZE).astype(np.float32),
            "pose": ident.pose[i].astype(np.float32),
            "blink": ident.blink[i].astype(np.float32),
            "mfcc": audio.frame_windows(features[ident.identity], [n],
                                        ident.fps)[0],
            "identity": ident.identity,
            "frame": n,
            "fps": ident.fps,
            "crop_box": np.asarray(box, np.float32),
            "video": f"video/{ident.identity}.mp4",
            "video_size": np.asarray(ident.frame_size[::-1], np.int32),
        }

  def _generate_feature_examples(
      self, splits: list[annvi_features.FeatureSplit]
  ) -> Iterator[tuple[str, dict]]:
    """One identity after another, in each .t7 file's order."""
    for part in splits:
      for i, n in enumerate(part.frames):
        yield f"{part.identity}/{n:06d}", {
            "image": annvi_features.read_jpeg(part.image_paths[i]),
            "landmarks": part.landmarks[i],
            "pose": part.pose[i],
            "blink": part.blink[i],
            "mfcc": part.mfcc[i],
            "identity": part.identity,
            "frame": int(n),
            "fps": self.builder_config.features_fps,
            "crop_box": np.zeros(3, np.float32),
            "video": "",
            "video_size": np.zeros(2, np.int32),
        }


def prepare(config_name: str = "sample", data_dir: str | None = None,
            manual_dir: str | None = None) -> Builder:
  """Builds `tfds_annvi/<config_name>` (array_record) if not built yet.

  Returns the builder; read it with `builder.as_data_source(split)`. TFDS
  writes into a temporary folder and renames it when complete, so a failed
  build leaves nothing that looks prepared.
  """
  if config_name not in Builder.builder_configs:
    raise UserError(f"tfds_annvi has no config {config_name!r}: use one of "
                    f"{sorted(Builder.builder_configs)}.")
  builder = Builder(config=config_name, data_dir=data_dir,
                    file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder
