"""Full-frame output: each generated face crop put back into the identity's own recording.

The reenactor's dataset keeps, per frame, where its 1.4x crop came from
(`crop_box`, `video`, `video_size`). The background is that identity's
recording, played forward and back so any length works (or one still frame);
generated frame n goes back into background frame n's box, blended with a
feathered face mask: alpha is 0 outside the face polygon of the generated
landmarks, rises linearly over `feather` x the crop side inside it, then is 1.
Pixels where alpha is 0 are the background's exactly; where it is 1, the
generated crop's resized (colour kept as generated).
"""

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from apb2face_jax.data import media, splits
from apb2face_jax.data.layout import CROP_SIZE
from apb2face_jax.models import drawing
from apb2face_jax.errors import UserError

BACKGROUNDS = ("pingpong", "still")


@dataclasses.dataclass(frozen=True)
class Background:
  """One identity's recorded frames and, per frame, the crop box (x0, y0, side) in its pixels."""
  identity: str
  frames: np.ndarray  # (N, H, W, 3) uint8
  boxes: np.ndarray   # (N, 3) float32

  @property
  def size(self) -> tuple[int, int]:
    """(width, height) of the source video."""
    return self.frames.shape[2], self.frames.shape[1]


def pingpong(index: int, n: int) -> int:
  """Background frame of output frame `index`: 0, 1, .., n-1, n-2, .., 1, 0, 1, .."""
  if n == 1:
    return 0
  i = index % (2 * n - 2)
  return i if i < n else 2 * n - 2 - i


def into_frame(image: np.ndarray, box: np.ndarray, size: tuple[int, int], border: str = "replicate") -> np.ndarray:
  """A square crop image (S, S, C) resized back into its `box` of a (height, width) = size[::-1] frame.

  The exact inverse map of `crops.crop_image` (pixel-centre aligned, bilinear).
  Outside the box: the crop's edge pixels ('replicate') or black ('black').
  """
  import cv2  # pylint: disable=g-import-not-at-top

  x0, y0, side = (float(v) for v in box)
  scale = image.shape[0] / side
  matrix = np.array([[scale, 0.0, scale * (0.5 - x0) - 0.5], [0.0, scale, scale * (0.5 - y0) - 0.5]])
  mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
  return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=mode,
                        borderValue=(0, 0, 0))


def face_alpha(landmarks: np.ndarray, box: np.ndarray, size: tuple[int, int], feather: float) -> np.ndarray:
  """(H, W) float32 blend weight of landmarks (106, 2) in 256-crop pixels: 0 outside the face polygon,
  a linear ramp `feather` x the crop side wide inside its edge, then 1."""
  import cv2  # pylint: disable=g-import-not-at-top

  x0, y0, side = (float(v) for v in box)
  points = landmarks[np.array(drawing.FACE_POLYGON)] * (side / CROP_SIZE) + np.array([x0, y0])
  mask = np.zeros(size[::-1], np.uint8)
  # 4 fractional bits; pixel centres at half-integers (the geometry module's convention).
  cv2.fillPoly(mask, [np.round((points - 0.5) * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
  inside = cv2.distanceTransform(mask, cv2.DIST_L2, 5)  # distance to the nearest outside pixel
  return np.clip(inside / max(feather * side, 1e-6), 0.0, 1.0).astype(np.float32)


def composite(background: np.ndarray, face: np.ndarray, landmarks: np.ndarray, box: np.ndarray,
              feather: float) -> np.ndarray:
  """The generated `face` (S, S, 3) uint8 blended into `background` (H, W, 3) uint8 at `box`."""
  size = (background.shape[1], background.shape[0])
  alpha = face_alpha(landmarks, box, size, feather)[..., None]
  pasted = into_frame(face, box, size).astype(np.float32)
  out = background + alpha * (pasted - background)
  return np.clip(np.round(out), 0, 255).astype(np.uint8)


class FullFrame:
  """Generated frames -> full source frames: `full(index, face, landmarks, landmark_image)`."""

  def __init__(self, background: Background, mode: str = "pingpong", feather: float = 0.05):
    if mode not in BACKGROUNDS:
      raise UserError(f"config.background={mode!r} is not valid: use one of {BACKGROUNDS}.")
    if not 0 < feather < 0.5:
      raise UserError(f"config.feather={feather!r} is not valid: it must be in (0, 0.5) (of the crop side).")
    self.background, self.mode, self.feather = background, mode, feather
    self.size = background.size

  def _at(self, index: int) -> int:
    return 0 if self.mode == "still" else pingpong(index, len(self.background.frames))

  def face(self, index: int, face: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    i = self._at(index)
    return composite(self.background.frames[i], face, landmarks, self.background.boxes[i], self.feather)

  def landmark_image(self, index: int, image: np.ndarray) -> np.ndarray:
    """The landmark image in its place on a black frame (the left half of side_by_side)."""
    return into_frame(image, self.background.boxes[self._at(index)], self.size, border="black")


def load_background(data: dict[str, Any], identity: str | None, max_frames: int) -> Background:
  """The first `max_frames` usable frames of `identity` (default: the dataset's only one) of the
  reenactor's dataset, read from the source video, with their crop boxes.

  `data` is the reenactor checkpoint's record of its training data (dataset, data_dir, manual_dir).
  """
  import tfds_annvi  # pylint: disable=g-import-not-at-top
  from tfds_annvi.tfds_annvi_dataset_builder import SAMPLE_DIR  # pylint: disable=g-import-not-at-top

  name = data.get("dataset")
  builder_config = tfds_annvi.Builder.builder_configs.get(name)
  if builder_config is None:
    raise UserError(f"the reenactor was trained on dataset {name!r}, which tfds_annvi does not know: "
                    "full_frame needs a tfds_annvi raw config (sample, annvi, ...).")
  if builder_config.source == "features":
    raise UserError(f"full_frame needs the source video, and tfds_annvi/{name} (the released features) holds "
                    "only 256x256 crops: train the reenactor on a raw config (annvi, ...) or leave full_frame off.")
  builder = tfds_annvi.Builder(config=name, data_dir=data.get("data_dir"), file_format="array_record")
  if not builder.is_prepared():
    raise UserError(f"tfds_annvi/{name}:{builder.version} (with the crop boxes full_frame needs) is not prepared "
                    f"in {builder.data_dir_root}: build it (`tfds build tfds_annvi --config {name}`) or leave "
                    "full_frame off.")
  columns, rows_identity, names = splits.load_columns(builder, ("train", "test"),
                                                      extra=("crop_box", "video", "video_size"))
  if identity is None:
    if len(names) > 1:
      raise UserError(f"tfds_annvi/{name} holds {len(names)} identities ({', '.join(names[:5])}...): pick the "
                      "background with --config.identity=NAME.")
    identity = names[0]
  if identity not in names:
    raise UserError(f"identity {identity!r} is not in tfds_annvi/{name}: use one of {', '.join(names[:10])}.")
  mine = np.flatnonzero(rows_identity == names.index(identity))
  mine = mine[np.argsort(columns["frame"][mine], kind="stable")][:max_frames]
  if builder_config.source == "sample":
    root = SAMPLE_DIR
  elif data.get("manual_dir"):
    root = Path(data["manual_dir"])
  else:
    raise UserError("full_frame reads the source video from the reenactor's raw root, and its checkpoint "
                    "records no manual_dir: retrain the reenactor with --config.manual_dir=DIR.")
  source = Path(root) / str(columns["video"][mine[0]])
  if not source.is_file():
    raise UserError(f"full_frame needs the source video {source}, which does not exist: put the raw root back "
                    "where the reenactor was trained from.")
  frames = np.stack([rgb for _, rgb in media.iter_frames(source, columns["frame"][mine])])
  height, width = (int(v) for v in columns["video_size"][mine[0]])
  if frames.shape[1:3] != (height, width):
    raise UserError(f"{source} is {frames.shape[2]}x{frames.shape[1]} but tfds_annvi/{name} was built from a "
                    f"{width}x{height} video: rebuild the dataset from this video.")
  return Background(identity, frames, columns["crop_box"][mine].astype(np.float32))
