"""The README's full-frame picture: frames of the crop MP4 beside the same frames of the full-frame MP4.

  python launch.py --config configs/generate.py --config.audio=held_out.wav --config.output=/tmp/crop.mp4 \
      --config.predictor_workdir=/tmp/predictor --config.reenactor_workdir=/tmp/reenactor
  python launch.py --config configs/generate.py ... --config.full_frame=True --config.output=/tmp/full.mp4
  python tools/full_frame_figure.py /tmp/crop.mp4 /tmp/full.mp4 --out docs/full_frame.jpg

Writes one row per chosen frame (evenly spaced over the video unless
`--frames` names them): the crop scaled to the full frame's height, then the
full frame (`--scale` enlarges a small one), each labelled with its size. Drawn with OpenCV (pinned).
"""

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apb2face_jax.data import media  # noqa: E402

GAP = 8       # pixels between panels, our choice
CAPTION = 22  # pixels of each panel's caption bar


def _label(image: np.ndarray, text: str) -> np.ndarray:
  """`image` under a black caption bar holding `text` in white."""
  bar = np.zeros((CAPTION, image.shape[1], 3), np.uint8)
  cv2.putText(bar, text, (6, CAPTION - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
  return np.concatenate([bar, image], axis=0)


def figure(crop_video: Path, full_video: Path, frames: list[int], scale: int = 1) -> np.ndarray:
  """RGB rows (crop | full frame) of `frames`, the full frame enlarged `scale` times (nearest pixel)."""
  crops = dict(media.iter_frames(crop_video, frames))
  fulls = dict(media.iter_frames(full_video, frames))
  rows = []
  for index in frames:
    crop, full = crops[index], fulls[index]
    label = f"full frame {full.shape[1]}x{full.shape[0]}" + (f", shown x{scale}" if scale > 1 else "")
    full = cv2.resize(full, (full.shape[1] * scale, full.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    height = full.shape[0]
    scaled = cv2.resize(crop, (round(crop.shape[1] * height / crop.shape[0]), height),
                        interpolation=cv2.INTER_NEAREST)
    gap = np.full((height + CAPTION, GAP, 3), 255, np.uint8)
    rows.append(np.concatenate([
        _label(scaled, f"crop {crop.shape[1]}x{crop.shape[0]}, frame {index}"), gap,
        _label(full, label)], axis=1))
  between = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
  return np.concatenate([part for row in rows for part in (row, between)][:-1], axis=0)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("crop_video", type=Path)
  parser.add_argument("full_video", type=Path)
  parser.add_argument("--out", type=Path, required=True, help="JPEG or PNG to write")
  parser.add_argument("--frames", type=int, nargs="+", help="frame indices (default: 2 evenly spaced)")
  parser.add_argument("--scale", type=int, default=1, help="enlarge small videos this many times (nearest pixel)")
  args = parser.parse_args()
  for video in (args.crop_video, args.full_video):
    if not video.is_file():
      sys.exit(f"error: {video} not found: make it with configs/generate.py first (see this script's help).")
  frames = args.frames
  if not frames:
    count = media.probe_video(args.full_video).frame_count
    frames = [count // 3, 2 * count // 3]
  image = figure(args.crop_video, args.full_video, frames, args.scale)
  options = [cv2.IMWRITE_JPEG_QUALITY, 88] if args.out.suffix.lower() in (".jpg", ".jpeg") else []
  cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), options)
  print(f"{args.out}: {image.shape[1]}x{image.shape[0]}, frames {frames}")


if __name__ == "__main__":
  main()
