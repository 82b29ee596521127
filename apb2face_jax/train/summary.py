"""What a training run shows a person: TensorBoard scalars and images, PNG files.

Only process 0 writes, so a multi-host job leaves one set of files.
"""

from pathlib import Path

import jax
import numpy as np
from PIL import Image, ImageDraw


class Summary:
  """TensorBoard event files in `<workdir>/tensorboard`, PNGs in `<workdir>/pictures`."""

  def __init__(self, workdir: str | Path):
    self.active = jax.process_index() == 0
    self.pictures = Path(workdir) / "pictures"
    self._writer = None
    if self.active:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top

      self.pictures.mkdir(parents=True, exist_ok=True)
      self._writer = SummaryWriter(str(Path(workdir) / "tensorboard"))

  def scalars(self, step: int, values: dict[str, float]) -> None:
    if self._writer:
      for name, value in values.items():
        self._writer.add_scalar(name, float(value), step)

  def image(self, step: int, name: str, picture: np.ndarray) -> Path:
    """Writes an (H, W, 3) uint8 picture to TensorBoard and `pictures/<name>_<step>.png`."""
    path = self.pictures / f"{name}_{step:07d}.png"
    if self._writer:
      self._writer.add_image(name, picture, step, dataformats="HWC")
      Image.fromarray(picture).save(path)
    return path

  def close(self) -> None:
    if self._writer:
      self._writer.close()


def grid(rows: list[np.ndarray]) -> np.ndarray:
  """Rows of (B, H, W, 3) uint8 images -> one picture, one row per entry, 2-px gaps."""
  pad = lambda x: np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=255)  # noqa: E731
  return np.concatenate([np.concatenate(list(pad(r)), axis=1) for r in rows], axis=0)


def landmark_overlay(faces: np.ndarray, real: np.ndarray, predicted: np.ndarray) -> np.ndarray:
  """Faces (B, H, W, 3) uint8 dimmed, real points red, predicted points green."""
  out = []
  for face, r, p in zip(faces, real, predicted):
    canvas = Image.fromarray((face * 0.5).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for points, colour in ((r, (255, 60, 60)), (p, (60, 255, 60))):
      for x, y in points:
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=colour)
    out.append(np.asarray(canvas))
  return np.stack(out)
