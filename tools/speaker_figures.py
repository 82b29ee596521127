"""The README's lip-sync figures from an evaluate job's workdir: mouth opening over time, and a frame grid.

  python tools/speaker_figures.py /tmp/eval_speaker --out docs

Writes OUT/speaker_mouth_opening.png (per identity: the real, predicted,
re-detected generated and loudness-baseline inner-lip gap over the test frames)
and OUT/speaker_frames.png (per identity, evenly spaced test frames: real over
generated). Drawn with OpenCV (pinned), no matplotlib.
"""

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

# Curve name -> (label, BGR colour); the real one drawn last, on top.
CURVES = {"loudness_fit": ("baseline: mouth from loudness", (160, 160, 160)),
          "generated_redetected": ("generated face, re-detected", (40, 160, 40)),
          "predictor": ("predictor landmarks", (30, 60, 220)),
          "real": ("real (labels)", (0, 0, 0))}
PANEL_W, PANEL_H, MARGIN = 880, 260, 50  # pixels, our choice
GRID_FRAMES = 6  # test frames per identity in the grid, our choice


def _text(image: np.ndarray, text: str, at: tuple[int, int], colour=(0, 0, 0), scale: float = 0.5) -> None:
  cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def opening_plot(metrics: dict) -> np.ndarray:
  """One panel per identity: opening (px at 256) against the frame index."""
  panels = []
  for identity, rows in metrics["lipsync"]["identities"].items():
    series = rows["series"]
    panel = np.full((PANEL_H + 2 * MARGIN, PANEL_W + 2 * MARGIN, 3), 255, np.uint8)
    frames = np.asarray(series["frames"], float)
    values = [v for name in CURVES if name in series for v in series[name] if v is not None]
    top = max(values + [1.0]) * 1.1
    x = lambda f: int(MARGIN + (f - frames[0]) / max(frames[-1] - frames[0], 1) * PANEL_W)  # noqa: E731
    y = lambda v: int(MARGIN + PANEL_H - max(v, 0.0) / top * PANEL_H)  # noqa: E731
    cv2.rectangle(panel, (MARGIN, MARGIN), (MARGIN + PANEL_W, MARGIN + PANEL_H), (200, 200, 200), 1)
    for tick in np.linspace(0, top, 5):
      _text(panel, f"{tick:.0f}", (8, y(tick) + 4), scale=0.4)
    for f in frames[::max(len(frames) // 8, 1)]:
      _text(panel, f"{int(f)}", (x(f) - 10, MARGIN + PANEL_H + 18), scale=0.4)
    for k, (name, (label, colour)) in enumerate(CURVES.items()):
      if name not in series:
        continue
      points = [(x(f), y(v)) for f, v in zip(frames, series[name]) if v is not None]
      cv2.polylines(panel, [np.asarray(points, np.int32)], False, colour, 2, cv2.LINE_AA)
      _text(panel, label, (MARGIN + 10 + 215 * k, MARGIN - 10), colour)
    _text(panel, f"{identity}: inner-lip gap (px at 256) over test frames", (MARGIN, 20), scale=0.55)
    panels.append(panel)
  return np.concatenate(panels, axis=0)


def frame_grid(workdir: Path, metrics: dict) -> np.ndarray:
  """Per identity two rows, real over generated, of evenly spaced test frames."""
  rows = []
  for identity, sync in metrics["lipsync"]["identities"].items():
    frames = sync["series"]["frames"]
    picked = [frames[i] for i in np.linspace(0, len(frames) - 1, GRID_FRAMES).astype(int)]
    for kind in ("real", "generated"):
      images = [cv2.imread(str(workdir / "images" / identity / kind / f"{f:06d}.png")) for f in picked]
      row = np.concatenate(images, axis=1)
      _text(row, f"{identity} {kind}", (4, 14), (255, 255, 255), 0.45)
      rows.append(row)
  return np.concatenate(rows, axis=0)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("workdir", type=Path, help="the evaluate job's --workdir")
  parser.add_argument("--out", type=Path, default=Path("docs"))
  args = parser.parse_args()
  metrics_path = args.workdir / "metrics.json"
  if not metrics_path.is_file():
    print(f"error: {metrics_path} does not exist: run the evaluate job with --workdir {args.workdir} first",
          file=sys.stderr)
    return 2
  metrics = json.loads(metrics_path.read_text())
  args.out.mkdir(parents=True, exist_ok=True)
  cv2.imwrite(str(args.out / "speaker_mouth_opening.png"), opening_plot(metrics))
  cv2.imwrite(str(args.out / "speaker_frames.png"), frame_grid(args.workdir, metrics))
  print(f"wrote {args.out}/speaker_mouth_opening.png and {args.out}/speaker_frames.png")
  return 0


if __name__ == "__main__":
  sys.exit(main())
