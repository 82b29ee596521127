"""Reader of the released AnnVI feature layout (docs/paper_and_code.md §5).

    ROOT/feature/{id}/256_train.t7, 256_test.t7
    ROOT/feature/{id}/256_image_crop/{n}.jpg

Each `.t7` is a `torch.save` dict of parallel lists, as the official
`script_AnnVI.py` wrote them: `img_paths` ([crop, landmark image] paths
relative to `feature/{id}/`), `audio_features` ((64, 60) MFCC windows, deltas
across coefficients), `lands` (212 floats x0, y0, x1, y1, ... in 256-crop
pixels), `poses` (3: pitch, roll, yaw) and `eyes` (2: left, right). The files
are read with `apb2face_jax.t7` (numpy and builtins only). The frame index is
parsed from the crop's name; the split is the file's.
"""

import dataclasses
import io
import os
import re

import numpy as np
from PIL import Image

from apb2face_jax.data import audio, torch_save
from apb2face_jax.data.layout import CROP_SIZE, NUM_POINTS, check_identity
from apb2face_jax.errors import UserError

FEATURE_DIR = "feature"
SPLITS = ("train", "test")
SIZE = CROP_SIZE  # the 256_* files; the 512_* ones are not read
KEYS = ("img_paths", "audio_features", "lands", "poses", "eyes")
_CROP = re.compile(rf"{SIZE}_image_crop/(\d+)\.jpg")


@dataclasses.dataclass(frozen=True)
class FeatureSplit:
  """One identity's frames of one split, in the file's order."""
  identity: str
  source: str  # the .t7 path
  image_paths: list[str]
  frames: np.ndarray  # (N,) int64
  landmarks: np.ndarray  # (N, 106, 2) float32, crop pixels
  pose: np.ndarray  # (N, 3) float32, (pitch, roll, yaw)
  blink: np.ndarray  # (N, 2) float32
  mfcc: np.ndarray  # (N, 64, 60) float32


def list_identities(root: str | os.PathLike) -> list[str]:
  """The identities of an AnnVI root's `feature/` folder, sorted."""
  root = os.fspath(root)
  folder = os.path.join(root, FEATURE_DIR)
  if not os.path.isdir(folder):
    raise UserError(f"AnnVI root {root} has no {FEATURE_DIR}/ folder: give the "
                    "folder that holds feature/{id}/256_train.t7 (the released "
                    "AnnVI features).")
  ids = sorted(n for n in os.listdir(folder)
               if os.path.isdir(os.path.join(folder, n)))
  if not ids:
    raise UserError(f"{folder} holds no identity folder: it should hold "
                    "{id}/256_train.t7, {id}/256_test.t7 and "
                    "{id}/256_image_crop/.")
  return ids


def read_identity(root: str | os.PathLike, identity: str
                  ) -> dict[str, FeatureSplit]:
  """{'train': ..., 'test': ...} of one identity, checked."""
  check_identity(identity)
  splits = {s: read_split(root, identity, s) for s in SPLITS}
  both = np.intersect1d(splits["train"].frames, splits["test"].frames)
  if both.size:
    raise UserError(f"{splits['test'].source} and {splits['train'].source} both "
                    f"hold frame {both[0]} ({both.size} shared): a frame must be "
                    "in one split only.")
  return splits


def read_split(root: str | os.PathLike, identity: str, split: str
               ) -> FeatureSplit:
  """Reads and checks `feature/{identity}/256_{split}.t7`."""
  folder = os.path.join(os.fspath(root), FEATURE_DIR, identity)
  path = os.path.join(folder, f"{SIZE}_{split}.t7")
  if not os.path.isfile(path):
    raise UserError(f"{path} is missing: every identity folder under "
                    f"{FEATURE_DIR}/ needs {SIZE}_train.t7 and {SIZE}_test.t7.")
  data = torch_save.load(path)
  if not isinstance(data, dict) or any(k not in data for k in KEYS):
    got = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
    raise UserError(f"{path} does not hold a dict with keys {', '.join(KEYS)} "
                    f"(got {got}): it is not an AnnVI feature file.")
  lengths = {k: len(data[k]) if isinstance(data[k], (list, tuple)) else None
             for k in KEYS}
  if None in lengths.values() or len(set(lengths.values())) != 1:
    raise UserError(f"{path}: {', '.join(KEYS)} must be lists of one length; "
                    f"got lengths {lengths}.")
  if not lengths["img_paths"]:
    raise UserError(f"{path} holds no frames.")
  image_paths, frames = zip(*(_image(folder, p, f"{path} img_paths[{i}]")
                              for i, p in enumerate(data["img_paths"])))
  if len(set(frames)) != len(frames):
    raise UserError(f"{path} names a crop twice: each frame once.")
  return FeatureSplit(
      identity=identity, source=path, image_paths=list(image_paths),
      frames=np.asarray(frames, np.int64),
      landmarks=_stack(data["lands"], (NUM_POINTS * 2,), path,
                       "lands").reshape(-1, NUM_POINTS, 2),
      pose=_stack(data["poses"], (3,), path, "poses"),
      blink=_stack(data["eyes"], (2,), path, "eyes"),
      mfcc=_stack(data["audio_features"], (audio.WINDOW, 3 * audio.N_MFCC),
                  path, "audio_features"))


def read_jpeg(path: str) -> bytes:
  """The bytes of a 256x256 RGB JPEG crop, after checking it decodes."""
  try:
    with open(path, "rb") as f:
      data = f.read()
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      form, mode, size = image.format, image.mode, image.size
  except FileNotFoundError:
    raise UserError(f"{path} is missing: the .t7 file names it.") from None
  except (OSError, SyntaxError, ValueError) as e:
    raise UserError(f"{path} is not a readable JPEG ({e}): it is corrupt or "
                    "truncated; restore it from the AnnVI download.") from None
  if form != "JPEG" or mode != "RGB" or size != (SIZE, SIZE):
    raise UserError(f"{path} is a {form} {mode} image of {size[0]}x{size[1]}: "
                    f"expected a {SIZE}x{SIZE} RGB JPEG crop.")
  return data


def _image(folder: str, entry: object, where: str) -> tuple[str, int]:
  """(absolute crop path, frame index) from one `img_paths` entry."""
  name = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
  if not isinstance(name, str):
    raise UserError(f"{where}: {entry!r} is not a path or [crop, landmark] "
                    "path pair.")
  match = _CROP.fullmatch(name.replace("\\", "/"))
  if not match:
    raise UserError(f"{where}: {name!r} is not '{SIZE}_image_crop/{{frame}}"
                    ".jpg' (a crop inside the identity's folder).")
  return os.path.join(folder, name), int(match.group(1))


def _stack(values: list, shape: tuple[int, ...], path: str, key: str
           ) -> np.ndarray:
  out = []
  for i, v in enumerate(values):
    try:
      a = np.asarray(v, np.float32)
    except (TypeError, ValueError):
      a = None
    if a is None or a.shape != shape:
      got = "not numbers" if a is None else f"shape {a.shape}"
      raise UserError(f"{path}: {key}[{i}] has {got}, expected {shape}.")
    if not np.all(np.isfinite(a)):
      raise UserError(f"{path}: {key}[{i}] holds NaN or inf.")
    out.append(a)
  return np.stack(out)

