"""Evaluation job: the paper's Table 1 metrics on test frames, written to metrics.json / metrics.md.

For each identity, up to `max_per_identity` test frames drive the trained
networks with their own audio, pose and blink: predictor -> landmarks ->
landmark image -> reenactor -> face. Against the real test frame (resized to the
reenactor's size): SSIM and FID. Re-detected on the generated face by the data's
own annotator, against the driving signals: DR, ALE (vs the predicted landmarks
that were drawn), APE, ABE. Plus the predictor's landmark L1 against the labels.
Reference rows run the annotator on the real frames (vs the dataset labels) and
FID between two halves of the real frames: the floor each metric has here.
Lip sync (`metrics.lipsync`): M-LMD, mouth-opening correlation and AV offset of
the predicted landmarks and of the re-detected generated faces, beside the real
frames and three baselines fitted on each identity's training frames.
"""

import dataclasses
import json
import time
import types
from pathlib import Path
from typing import Any

import jax
import ml_collections
from absl import logging
import numpy as np
from PIL import Image

from apb2face_jax.annotate import venv
from apb2face_jax.data import splits
from apb2face_jax.data.layout import CROP_SIZE
from apb2face_jax.inference import generate
from apb2face_jax import inference
from apb2face_jax.errors import UserError, make_folder
from apb2face_jax.metrics import face_errors, fid, lipsync, redetect
from apb2face_jax.metrics.ssim import ssim
from apb2face_jax.models import drawing
from apb2face_jax.data.images import to_uint8

METRICS = ("ssim", "fid", "dr_percent", "ale_px", "ape", "abe", "predictor_l1_px")
HEADERS = ("SSIM ↑", "FID ↓", "DR % ↑", "ALE px ↓", "APE ↓", "ABE ↓", "predictor L1 px ↓")
FACE_METRICS = ("dr_percent", "ale_px", "ape", "abe")


@dataclasses.dataclass
class Faces:
  """One identity's evaluated frames: real and generated faces (uint8), signals and drawn landmarks."""
  identity: str
  frames: np.ndarray
  real: np.ndarray
  fake: np.ndarray
  labels: np.ndarray     # (N, 106, 2) dataset landmarks, 256-crop pixels
  drawn: np.ndarray      # (N, 106, 2) predicted landmarks that drove the reenactor
  pose: np.ndarray
  blink: np.ndarray


class _Evaluator:
  """Loads the networks and data once; computes rows of metrics."""

  def __init__(self, config: ml_collections.ConfigDict, out: Path):
    self.config, self.out = config, out
    self.predictor = inference.load_predictor(config.predictor_workdir, config.predictor_checkpoint)
    run = self.predictor.data  # the predictor checkpoint's record of its training data
    data = types.SimpleNamespace(dataset=config.dataset or run["dataset"], data_dir=config.data_dir or run["data_dir"],
                                 manual_dir=config.manual_dir)
    self.dataset = data.dataset
    builder = splits.prepare(data)
    self.split = splits.load(builder, config.split)
    self.train = splits.load(builder, "train")
    self.reenactors: dict[str, inference.Reenactor] = {}
    self._generators: dict[str, generate.Generator] = {}
    self.unavailable: dict[str, str] = {}
    self._inception = None
    if not config.fid:
      self.unavailable["fid"] = "not requested (config.fid=False)"
    elif reason := fid.unavailable_reason():
      self.unavailable["fid"] = reason
    else:
      self._inception = fid.InceptionFeatures()
    self.annotator = venv.annotator_python(config.annotator_python)
    self._features: dict[int, np.ndarray] = {}

  def reenactor_workdir(self, identity: str) -> str:
    return self.config.reenactor_workdir.replace("{identity}", identity)

  def reenactor(self, identity: str) -> inference.Reenactor:
    workdir = self.reenactor_workdir(identity)
    if workdir not in self.reenactors:
      self.reenactors[workdir] = inference.load_reenactor(workdir, self.config.reenactor_checkpoint)
    return self.reenactors[workdir]

  def _generator(self, identity: str) -> generate.Generator:
    """The fused predictor -> rasteriser -> reenactor of `identity`'s reenactor (one compile)."""
    workdir = self.reenactor_workdir(identity)
    if workdir not in self._generators:
      self._generators[workdir] = generate.Generator(self.predictor, self.reenactor(identity),
                                                     batch_size=self.config.batch_size)
    return self._generators[workdir]

  def indices(self, identity: str) -> np.ndarray:
    k = self.split.identity_names.index(identity)
    return np.flatnonzero(self.split.identity == k)[:self.config.max_per_identity]

  def faces(self, identity: str, driver: str) -> Faces:
    """`identity`'s reenactor driven by `driver`'s test signals (the same identity, or cross)."""
    size = self.reenactor(identity).image_size
    resize = jax.jit(lambda x: drawing.resize_faces(x, size))
    columns = self.split.columns
    drive, own = self.indices(driver), self.indices(identity)
    b = self.config.batch_size
    frames = self._generator(identity)(*(columns[k][drive] for k in ("mfcc", "pose", "blink")))
    real = [to_uint8(resize(splits.decode_images(self.split, own[s:s + b]))) for s in range(0, len(own), b)]
    return Faces(identity, columns["frame"][drive], np.concatenate(real), np.stack([f.face for f in frames]),
                 columns["landmarks"][drive], np.stack([f.landmarks for f in frames]), columns["pose"][drive],
                 columns["blink"][drive])

  def save(self, images: np.ndarray, frames: np.ndarray, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{int(n):06d}.png" for n in frames]
    for image, path in zip(images, paths):
      Image.fromarray(image).save(path)
    return paths

  def inception(self, images: np.ndarray, key: int | None = None) -> np.ndarray:
    if key is None:
      return self._inception(images)
    if key not in self._features:
      self._features[key] = self._inception(images)
    return self._features[key]

  def fid_row(self, fake_features: np.ndarray, real_features: np.ndarray) -> dict[str, Any]:
    if len(fake_features) < 2 or len(real_features) < 2:
      return {"fid": None, "fid_note": "FID needs at least 2 images on each side"}
    return {"fid": fid.fid_from_features(fake_features, real_features),
            "fid_images": [len(fake_features), len(real_features)]}

  def detect(self, paths: list[Path], size: int) -> redetect.Detections | None:
    """The annotator on `paths` (landmarks in 256-crop pixels), or None where it cannot run."""
    if "annotator" in self.unavailable:
      return None
    try:
      return redetect.redetect(paths, self.annotator, scale=CROP_SIZE / size)
    except redetect.AnnotatorUnavailable as e:
      self.unavailable["annotator"] = str(e)
      return None

  def face_row(self, found: redetect.Detections | None, drawn: np.ndarray, pose: np.ndarray,
               blink: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """DR / ALE / APE / ABE of the annotator's detections against the driving signals."""
    if found is None:
      return {}
    row: dict[str, Any] = {"dr_percent": face_errors.detection_rate(found.found), "dropped": found.dropped}
    f = found.found
    if f.any():
      row.update(ale_px=float(face_errors.landmark_error(found.landmarks[f], drawn[f]).mean()),
                 ape=float(face_errors.mean_abs_error(found.pose[f], pose[f]).mean()),
                 abe=float(face_errors.mean_abs_error(found.blink[f], blink[f]).mean()))
      if labels is not None:
        row["ale_vs_labels_px"] = float(face_errors.landmark_error(found.landmarks[f], labels[f]).mean())
    else:
      row.update(ale_px=None, ape=None, abe=None, face_note="no face detected in any image")
    return row

  def identity_rows(self, identity: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(generated row, real-frame reference row) of one identity."""
    faces = self.faces(identity, identity)
    size = faces.real.shape[1]
    folder = self.out / "images" / identity
    fake_paths = self.save(faces.fake, faces.frames, folder / "generated")
    real_paths = self.save(faces.real, faces.frames, folder / "real")
    row: dict[str, Any] = {
        "images": len(faces.fake),
        "ssim": float(np.mean(np.asarray(ssim(faces.fake, faces.real, 255.0)))),
        "predictor_l1_px": float(np.mean(np.abs(faces.drawn - faces.labels))),
    }
    reference: dict[str, Any] = {"images": len(faces.real)}
    if self._inception is not None:
      key = self.split.identity_names.index(identity)
      real_features = self.inception(faces.real, key)
      row.update(self.fid_row(self.inception(faces.fake), real_features))
      half = len(real_features) // 2
      reference.update(self.fid_row(real_features[:half], real_features[half:]))
    fake_found, real_found = self.detect(fake_paths, size), self.detect(real_paths, size)
    row.update(self.face_row(fake_found, faces.drawn, faces.pose, faces.blink, faces.labels))
    reference.update(self.face_row(real_found, faces.labels, faces.pose, faces.blink))
    row["lipsync"] = self.lipsync_rows(faces, fake_found, real_found)
    return row, reference

  def lipsync_rows(self, faces: Faces, fake: redetect.Detections | None,
                   real: redetect.Detections | None) -> dict[str, dict[str, Any]]:
    """Lip-sync scores (time order) of the predictor, the real frames, the baselines and the re-detected faces,
    and under "series" the frames and each one's mouth opening (px; None: not detected) for plots."""
    order = np.argsort(faces.frames)
    mfcc = self.split.columns["mfcc"][self.indices(faces.identity)][order]
    labels, fps = faces.labels[order], self.split.fps
    train = self.train.identity == self.train.identity_names.index(faces.identity)
    guesses = {"predictor": faces.drawn[order], "real": labels,
               "loudness_fit": lipsync.loudness_fit(self.train.columns["landmarks"][train],
                                                    self.train.columns["mfcc"][train], mfcc, fps)}
    rows: dict[str, Any] = {name: lipsync.scores(guesses[name], labels, mfcc, fps) for name in ("predictor", "real")}
    rows.update(lipsync.baselines(self.train.columns["landmarks"][train], self.train.columns["mfcc"][train],
                                  labels, mfcc, fps))
    for name, found in (("generated_redetected", fake), ("real_redetected", real)):
      if found is not None:
        guesses[name] = found.landmarks[order]
        rows[name] = lipsync.scores(guesses[name], labels, mfcc, fps)
    rows["series"] = {"frames": faces.frames[order].tolist(),
                      **{name: [None if np.isnan(v) else float(v) for v in lipsync.mouth_opening(g)]
                         for name, g in guesses.items()}}
    return rows

  def cross_row(self, identity: str, driver: str) -> dict[str, Any]:
    """`identity`'s reenactor driven by `driver`'s signals: FID vs `identity`'s real frames, DR/ALE/APE/ABE."""
    faces = self.faces(identity, driver)
    paths = self.save(faces.fake, faces.frames, self.out / "images" / f"{identity}_driven_by_{driver}")
    row: dict[str, Any] = {"images": len(faces.fake), "driver": driver}
    if self._inception is not None:
      key = self.split.identity_names.index(identity)
      row.update(self.fid_row(self.inception(faces.fake), self.inception(faces.real, key)))
    row.update(self.face_row(self.detect(paths, faces.real.shape[1]), faces.drawn, faces.pose, faces.blink))
    return row


def average(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
  """Mean over identities of each metric some identity has."""
  out: dict[str, Any] = {"images": int(sum(r.get("images", 0) for r in rows.values()))}
  for name in (*METRICS, "ale_vs_labels_px"):
    values = [r[name] for r in rows.values() if r.get(name) is not None]
    if values:
      out[name] = float(np.mean(values))
  return out


LIPSYNC_METRICS = ("m_lmd_px", "mouth_corr", "av_offset_frames", "av_corr")
LIPSYNC_HEADERS = ("M-LMD px ↓", "mouth-opening corr ↑", "AV offset frames (real's)", "AV corr at offset")
LIPSYNC_ROWS = {
    "predictor": "ours: predictor landmarks",
    "generated_redetected": "ours: generated faces, re-detected",
    "real": "real test frames (labels)",
    "real_redetected": "real test frames, re-detected",
    "mean_mouth": "baseline: mean training mouth",
    "loudness_fit": "baseline: least-squares mouth from loudness",
    "nearest_mfcc": "baseline: nearest training frame by MFCC",
}


def lipsync_average(rows: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
  """Per row kind, the mean over identities of each lip-sync metric some identity has."""
  out: dict[str, dict[str, Any]] = {}
  for kind in LIPSYNC_ROWS:
    values = {m: [r[kind][m] for r in rows.values() if kind in r and r[kind].get(m) is not None]
              for m in LIPSYNC_METRICS}
    if any(values.values()):
      out[kind] = {m: float(np.mean(v)) if v else None for m, v in values.items()}
  return out


def lipsync_markdown(result: dict[str, Any]) -> list[str]:
  """The lip-sync table: one block of rows per identity, then the averages."""
  lines = ["", "| lip sync | " + " | ".join(LIPSYNC_HEADERS) + " |", "|---" * (len(LIPSYNC_HEADERS) + 1) + "|"]
  sync = result["lipsync"]
  for identity, rows in [*sync["identities"].items(), ("average", sync["average"])]:
    for kind, label in LIPSYNC_ROWS.items():
      if kind in rows:
        lines.append(f"| {identity}: {label} | " + " | ".join(_lipsync_cell(rows[kind].get(m))
                                                              for m in LIPSYNC_METRICS) + " |")
  return lines


def _lipsync_cell(value: float | int | None) -> str:
  """Integers (per-identity offsets) as they are, averages and scores to 3 decimals."""
  return "—" if value is None else str(value) if isinstance(value, int) else f"{value:.3f}"


def _cell(row: dict[str, Any], name: str) -> str:
  value = row.get(name)
  if value is None:
    return "—"
  text = f"{value:.1f}" if name == "dr_percent" else f"{value:.3f}" if name in ("fid", "ale_px", "predictor_l1_px") \
      else f"{value:.4f}"
  if name == "fid" and "fid_images" in row:
    text += " ({} vs {} img)".format(*row["fid_images"])
  return text


def markdown(result: dict[str, Any]) -> str:
  """The table of metrics.json, with the paper's numbers and notes on what each number means."""
  lines = ["| | images | " + " | ".join(HEADERS) + " |", "|---" * (len(HEADERS) + 2) + "|"]

  def add(label: str, row: dict[str, Any]) -> None:
    lines.append(f"| {label} | {row.get('images', '')} | " + " | ".join(_cell(row, m) for m in METRICS) + " |")

  for identity, row in result["identities"].items():
    add(f"ours: {identity}", row)
  add("**ours: average**", result["average"])
  for identity, row in result["reference_real"]["identities"].items():
    add(f"real test frames: {identity}", row)
  add("real test frames: average", result["reference_real"]["average"])
  if "cross_identity" in result:
    for identity, row in result["cross_identity"]["identities"].items():
      add(f"cross: {identity} driven by {row['driver']}", row)
    add("cross: average", result["cross_identity"]["average"])
  add("paper, Table 1 (AnnVI, 6 identities, 1000 images each)", {"images": 6000, **result["paper"]})
  s = result["settings"]
  notes = [
      "",
      f"Data: `{s['dataset']}`, split `{s['split']}`. Predictor: {s['predictor']}. Reenactor(s): {s['reenactors']}.",
      "SSIM: Gaussian (sigma 1.5), generated vs real test frame at the reenactor's size. "
      f"FID: {s['fid_features']}; generated vs real test frames (counts beside each value). FID on fewer "
      "than a few thousand images is strongly biased upward: small-sample values do not compare with the paper's.",
      "DR / ALE / APE / ABE: the data's annotator (MediaPipe FaceMesh -> 106 points, solvePnP pose, eye ratios) "
      "re-run on each generated face; ALE in 256-crop pixels vs the predicted landmarks that were drawn, APE in "
      "radians over (pitch, roll, yaw), ABE in eye height/width ratio, both vs the driving signals. "
      "Reference rows: the same annotator on the real test crops vs the dataset labels (made on the full video "
      "frames), and FID between two halves of the real frames.",
      "The paper's numbers were measured on its AnnVI data with Face++ landmarks and the full-size networks.",
      "Lip sync, on the test frames in time order with their own audio: M-LMD = mean distance over the 20 "
      "lip points (84-103) vs the labels, 256-crop px; mouth opening = inner-lip gap |p98 - p102|, its "
      "Pearson correlation over time vs the labels' (— where one side is constant); AV offset = the lag L "
      "(frames, |L| <= the MFCC window's reach) maximising the correlation of the audio envelope (MFCC c0) "
      "at t - L with the opening at t, L > 0 = mouth after sound. Baselines fitted on the identity's "
      "training frames. Re-detected rows: NaN-free frames only.",
  ]
  for name, reason in result["unavailable"].items():
    notes.append(f"Unavailable: {name}: {reason}.")
  return "\n".join(lines + lipsync_markdown(result) + notes) + "\n"


def check_config(config: ml_collections.ConfigDict) -> None:
  for name in ("predictor_workdir", "reenactor_workdir"):
    if not config.get(name):
      raise UserError(f"config.{name} is required: pass --config.{name}=DIR (the --workdir of that training run).")
  for name in ("max_per_identity", "batch_size"):
    if config[name] <= 0:
      raise UserError(f"config.{name}={config[name]!r} is not valid: it must be a positive integer.")


def run(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
  """Evaluates and writes `workdir`/metrics.json and metrics.md; returns the result."""
  check_config(config)
  logging.set_verbosity(logging.WARNING)  # Orbax logs every restore at INFO
  start = time.perf_counter()
  out = make_folder(workdir, "--workdir")
  ev = _Evaluator(config, out)
  names = ev.split.identity_names
  if config.cross_identity and (len(names) < 2 or "{identity}" not in config.reenactor_workdir):
    raise UserError("config.cross_identity=True needs 2+ identities in the data and one reenactor per identity: "
                    f"the data has {len(names)} ({', '.join(names)}), and reenactor_workdir must hold "
                    "'{identity}', e.g. --config.reenactor_workdir='/runs/reenactor_{identity}'.")
  rows, reference = {}, {}
  for name in names:
    rows[name], reference[name] = ev.identity_rows(name)
  sync = {name: rows[name].pop("lipsync") for name in names}
  result: dict[str, Any] = {"identities": rows, "average": average(rows),
                            "reference_real": {"identities": reference, "average": average(reference)},
                            "lipsync": {"identities": sync, "average": lipsync_average(sync)}}
  if config.cross_identity:
    cross = {name: ev.cross_row(name, names[(i + 1) % len(names)]) for i, name in enumerate(names)}
    result["cross_identity"] = {"identities": cross, "average": average(cross)}
  if "annotator" in ev.unavailable:
    for name in FACE_METRICS:
      ev.unavailable[name] = ev.unavailable["annotator"]
    del ev.unavailable["annotator"]
  result.update(
      paper=config.paper.to_dict(),
      unavailable=ev.unavailable,
      settings={
          "dataset": ev.dataset, "split": config.split, "max_per_identity": config.max_per_identity,
          "predictor": f"{config.predictor_workdir} (step {ev.predictor.step})",
          "reenactors": ", ".join(f"{w} (step {r.step}, {r.image_size}px)" for w, r in ev.reenactors.items()),
          "fid_features": fid.FEATURE_EXTRACTOR, "annotator": str(ev.annotator),
          "units": {"ale_px": "256-crop pixels", "ape": "radians", "abe": "eye height / width"},
      },
      seconds=time.perf_counter() - start)
  (out / "metrics.json").write_text(json.dumps(result, indent=2))
  (out / "metrics.md").write_text(markdown(result))
  print(markdown(result))
  return result
