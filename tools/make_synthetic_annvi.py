"""Writes a synthetic AnnVI raw root of AnnVI's full shape, to measure building and training at its size.

AnnVI itself cannot be obtained. This writes its shape instead: the six identities of the paper's
Table 1 (man1, man2, man3, woman1, woman2, woman3; 6400, 6110, 3450, 3500, 1230, 3100 frames, 23,790
in all), as 1080p H.264 videos at 30 fps with a 44.1 kHz mono speech-like track covering each video,
every frame labelled and annotated:

    OUT/video/{id}.mp4  OUT/audio/{id}.wav  OUT/label/{id}.txt  OUT/landmark/{id}.txt

Each video shows a drawn face (skin, hair, brows, eyes, nose, lips) whose 106 landmarks (the layout of
apb2face_jax/annotate/layout106.py) are the drawing's own points: the head moves and turns smoothly
within AnnVI's pose range (pitch -0.367..0.379, roll -0.502..0.509, yaw -0.354..0.196 rad), blinks,
and opens its mouth with the loudness of the audio's syllables. Pose is the head's true rotation (the
convention of apb2face_jax/annotate/pose.py), blink the annotator's eye ratios of the drawn points.
Everything follows from --seed; an identity looks the same whichever subset is written. From the
repository root:

    .venv/bin/python tools/make_synthetic_annvi.py --out /work/annvi_full
    .venv/bin/python tools/make_synthetic_annvi.py --out /tmp/tiny --scale 0.005 --size 320x240 \\
        --identities man1 woman2
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
import shutil
import sys
import zlib

import cv2
import numpy as np
import soundfile
import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make `apb2face_jax` importable
# pylint: disable=wrong-import-position
from apb2face_jax.annotate import blink, layout106, pose
from apb2face_jax.data import annvi_format, raw_annvi
from apb2face_jax.data.layout import NUM_POINTS
from apb2face_jax.errors import UserError
# pylint: enable=wrong-import-position

# The paper's Table 1: usable frames per identity.
FRAME_COUNTS = {"man1": 6400, "man2": 6110, "man3": 3450, "woman1": 3500, "woman2": 1230,
                "woman3": 3100}
# AnnVI's pose range in radians, in the stored order (pitch, roll, yaw).
POSE_RANGE = np.array([(-0.367, 0.379), (-0.502, 0.509), (-0.354, 0.196)])
SAMPLE_RATE = 44100
CRF = 23  # libx264 constant quality (its default)
PRESET = "veryfast"  # x264 speed: about 40 frames/s at 1080p on 2 cores
AUDIO_CHUNK = SAMPLE_RATE  # samples synthesised at a time
# Vowel formants (F1, F2) in Hz and how far each opens the mouth (0..1).
VOWELS = np.array([(730, 1090, 1.0), (530, 1840, 0.7), (270, 2290, 0.35), (570, 840, 0.8),
                   (300, 870, 0.45)])
MAX_HARMONIC_HZ = 4000.0
FACE_SCALE = (0.13, 0.17)  # face half-width / the frame's shorter side, per identity
SHIFT = 4  # cv2 drawing: 4 fractional bits
AA = cv2.LINE_AA
EYE_HALF_WIDTH = 0.22
EYE_CENTRES = ((-0.45, -0.2), (0.45, -0.2))
MOUTH_Y, MOUTH_HALF_WIDTH, INNER_HALF_WIDTH = 0.75, 0.38, 0.3
MAX_GAP = 0.28  # inner-lip gap of a fully open mouth, face half-widths
PIVOT = np.array([0.0, 0.2, 0.8])  # head rotation centre (behind the face, towards the neck)


# ----------------------------------------------------------------------------- the face model
# Face coordinates: OpenCV camera axes (x image right, y down, z away from the camera), the face
# looking at the camera, its half-width 1; the eyes at y = -0.2, the chin at y = 1.2.

def _depth(x: np.ndarray) -> np.ndarray:
  """A rounded face's z at image-plane x (the nose, added separately, comes nearer)."""
  return -0.5 * np.sqrt(np.clip(1.0 - np.square(x), 0.0, 1.0))


def _with_depth(xy: np.ndarray, extra: float = 0.0) -> np.ndarray:
  xy = np.asarray(xy, np.float64).reshape(-1, 2)
  return np.concatenate([xy, (_depth(xy[:, 0]) + extra)[:, None]], axis=1)


def _eye(centre: tuple[float, float], openness: float, gaze: float) -> dict[str, np.ndarray]:
  """Outline (corner, upper lids, corner, lower lids), lid middles, centre, pupil of one eye."""
  cx, cy = centre
  w, h = EYE_HALF_WIDTH, openness * EYE_HALF_WIDTH  # h: half height; height / width = openness
  lid = h * math.sqrt(1 - 1 / 9)  # the lid ellipse at x = +-w/3
  return {"outline": np.array([(cx - w, cy), (cx - w / 3, cy - lid), (cx + w / 3, cy - lid),
                               (cx + w, cy), (cx + w / 3, cy + lid), (cx - w / 3, cy + lid)]),
          "lids": np.array([(cx, cy - h), (cx, cy + h)]),
          "centre": np.array([(cx, cy)]), "pupil": np.array([(cx + gaze * w, cy)])}


def _brow_arch(x: np.ndarray) -> np.ndarray:
  """The y of a brow's top edge at x (0.2 <= |x| <= 0.85), highest halfway along."""
  return -0.55 - 0.08 * np.sin(np.pi * (np.abs(x) - 0.2) / 0.65)


def face_points(openness: tuple[float, float], mouth: float, gaze: float) -> np.ndarray:
  """The 106 points (106, 3) in face coordinates: eye openness (left, right) as height / width,
  mouth opening 0..1, horizontal gaze -1..1."""
  p = np.zeros((NUM_POINTS, 3))
  gap = MAX_GAP * mouth
  # Contour 0-32: from eye height on the image left, over the chin, to the right; the jaw drops
  # with the mouth.
  a = np.linspace(0.0, np.pi, 33)
  jaw = np.sin(a) ** 2
  contour = np.stack([-np.cos(a) * (1 - 0.1 * jaw), -0.2 + 1.4 * np.sin(a) + 0.5 * gap * jaw], 1)
  p[list(layout106.CONTOUR)] = _with_depth(contour)
  # Brows: top edges 33-37 (left, outer to inner) and 38-42, lower edges 64-67 and 68-71.
  for top, low, side in ((33, 64, -1), (38, 68, 1)):
    xt, xl = side * np.linspace(0.2, 0.85, 5)[::side], side * np.linspace(0.25, 0.8, 4)[::side]
    p[top:top + 5] = _with_depth(np.stack([xt, _brow_arch(xt)], 1), 0.02)
    p[low:low + 4] = _with_depth(np.stack([xl, _brow_arch(xl) + 0.09], 1), 0.02)
  # Nose: bridge 43-46 (46 the tip), bottom 47-51, sides 78-81, wings 82 83.
  p[43:47] = np.stack([np.zeros(4), np.linspace(-0.3, 0.3, 4), np.linspace(-0.6, -0.9, 4)], 1)
  p[47:52] = np.stack([np.linspace(-0.22, 0.22, 5), [0.38, 0.42, 0.44, 0.42, 0.38],
                       [-0.62, -0.7, -0.75, -0.7, -0.62]], 1)
  p[78:84] = [(-0.12, -0.05, -0.62), (0.12, -0.05, -0.62), (-0.16, 0.2, -0.64),
              (0.16, 0.2, -0.64), (-0.25, 0.33, -0.56), (0.25, 0.33, -0.56)]
  # Eyes: outlines 52-57 and 58-63, lid middles 72 73 / 75 76, centres 74 / 77, pupils 104 105.
  for centre, opened, outline, lids, middle, pupil in (
      (EYE_CENTRES[0], openness[0], 52, 72, 74, 104), (EYE_CENTRES[1], openness[1], 58, 75, 77, 105)):
    eye = _eye(centre, opened, gaze)
    p[outline:outline + 6] = _with_depth(eye["outline"], 0.05)
    p[lids:lids + 2] = _with_depth(eye["lids"], 0.05)
    p[middle] = _with_depth(eye["centre"], 0.05)[0]
    p[pupil] = _with_depth(eye["pupil"], 0.03)[0]
  # Lips: outer 84-95 clockwise from the left corner, inner 96-103; the lower lip opens more.
  xo = np.linspace(-MOUTH_HALF_WIDTH, MOUTH_HALF_WIDTH, 7)
  xi = np.linspace(-INNER_HALF_WIDTH, INNER_HALF_WIDTH, 5)
  bulge = lambda x, half: np.sqrt(np.clip(1 - np.square(x / half), 0, 1))  # noqa: E731
  bow = 1 - 0.35 * np.exp(-np.square(xo / 0.06))  # Cupid's bow: the upper lip dips in the middle
  upper_o = MOUTH_Y - 0.3 * gap * bulge(xo, MOUTH_HALF_WIDTH) - 0.09 * bulge(xo, MOUTH_HALF_WIDTH) * bow
  lower_o = MOUTH_Y + 0.7 * gap * bulge(xo, MOUTH_HALF_WIDTH) + 0.11 * bulge(xo, MOUTH_HALF_WIDTH)
  outer = np.concatenate([np.stack([xo, upper_o], 1), np.stack([xo, lower_o], 1)[-2:0:-1]])
  upper_i = MOUTH_Y - 0.3 * gap * bulge(xi, INNER_HALF_WIDTH)
  lower_i = MOUTH_Y + 0.7 * gap * bulge(xi, INNER_HALF_WIDTH)
  inner = np.concatenate([np.stack([xi, upper_i], 1), np.stack([xi, lower_i], 1)[-2:0:-1]])
  p[list(layout106.OUTER_LIPS)] = _with_depth(outer, -0.12)
  p[list(layout106.INNER_LIPS)] = _with_depth(inner, -0.1)
  return p


def _hair(long: bool) -> np.ndarray:
  """The hair's outline (face coordinates): an arch over the head from ear height, down to the
  shoulders if `long`."""
  b = np.linspace(0.0, np.pi, 24)
  arch = np.stack([1.12 * np.cos(b), -1.35 * np.sin(b)], 1)
  bottom = 1.5 if long else 0.0
  return _with_depth(np.concatenate([[(1.12, bottom)], arch, [(-1.12, bottom)]]))


# Drawn but not annotated. The forehead runs from the contour's right end over the top to its left
# end, closing the face outline. The neck and shoulders (2-D) follow the head's position only.
_TOP = np.linspace(0.1, np.pi - 0.1, 20)
FOREHEAD = _with_depth(np.stack([np.cos(_TOP), -0.2 - np.sin(_TOP)], 1))
_ROUND = np.linspace(0, 2 * np.pi, 16, endpoint=False)
EARS = tuple(_with_depth(np.stack([s * (1.0 + 0.12 * np.cos(_ROUND)), -0.05 + 0.25 * np.sin(_ROUND)],
                                  1), 0.2) for s in (-1, 1))
HAIR = {False: _hair(False), True: _hair(True)}
NECK = np.array([(-0.42, 0.6), (0.42, 0.6), (0.55, 2.0), (-0.55, 2.0)])
_HALF = np.linspace(0, np.pi, 24)
SHOULDERS = np.concatenate([np.stack([2.8 * np.cos(_HALF), 2.6 - 1.05 * np.sin(_HALF)], 1),
                            [(-2.8, 6.0), (2.8, 6.0)]])
# The farthest any landmark can get from the pivot (the jaw open): no rotation moves a point
# farther, so a pivot this far inside the frame keeps every landmark inside it.
REACH = float(np.max(np.linalg.norm(face_points((0.4, 0.4), 1.0, 1.0) - PIVOT, axis=1)))


def project(points: np.ndarray, angles: np.ndarray, pivot_px: np.ndarray, scale: float) -> np.ndarray:
  """Frame pixels (N, 2) of face points (N, 3) turned by (pitch, roll, yaw) about PIVOT, drawn
  with PIVOT at `pivot_px` and a face half-width of `scale` pixels (weak perspective)."""
  rotation = pose.rotation_from_euler(*angles)
  turned = (points - PIVOT) @ rotation.T
  return pivot_px + scale * turned[:, :2]


# ----------------------------------------------------------------------------- smooth motion

def smooth(rng: np.random.Generator, t: np.ndarray, low_hz: float, high_hz: float,
           waves: int = 5) -> np.ndarray:
  """A smooth signal in [-1, 1] over times `t` (s): a sum of sinusoids, amplitudes ~ 1 / frequency."""
  freqs = np.exp(rng.uniform(np.log(low_hz), np.log(high_hz), waves))
  amps = 1.0 / freqs
  phases = rng.uniform(0, 2 * np.pi, waves)
  wave = np.sin(2 * np.pi * freqs[None, :] * np.asarray(t)[:, None] + phases[None, :]) @ amps
  return wave / amps.sum()


@dataclasses.dataclass(frozen=True)
class Speech:
  """A schedule of syllables: start (s), duration (s), loudness, vowel index; and the voice."""
  starts: np.ndarray
  durations: np.ndarray
  loudness: np.ndarray
  vowels: np.ndarray
  bursts: np.ndarray  # bool: the syllable starts with a noise burst (a consonant)
  f0: float  # Hz
  f0_phases: np.ndarray  # (2,) phases of the slow pitch contour

  def _syllable(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the syllable sounding at each time (clipped to >= 0) and the time into it."""
    index = np.searchsorted(self.starts, t, side="right") - 1
    inside = (index >= 0) & (t < self.starts[np.maximum(index, 0)] + self.durations[np.maximum(index, 0)])
    index = np.maximum(index, 0)
    into = np.where(inside, t - self.starts[index], -1.0)
    return index, into

  def envelope(self, t: np.ndarray) -> np.ndarray:
    """Loudness envelope 0..1 at times `t` (s): sin^2 over each syllable, 0 in the pauses."""
    index, into = self._syllable(t)
    shape = np.sin(np.pi * np.clip(into / self.durations[index], 0, 1)) ** 2
    return np.where(into >= 0, self.loudness[index] * shape, 0.0)

  def mouth(self, t: np.ndarray) -> np.ndarray:
    """Mouth opening 0..1 at times `t`: the envelope times how open the syllable's vowel is."""
    index, _ = self._syllable(t)
    return self.envelope(t) * VOWELS[self.vowels[index], 2]

  def samples(self, start: int, stop: int, rng: np.random.Generator) -> np.ndarray:
    """Audio samples [start, stop) at SAMPLE_RATE, float32 in [-1, 1]."""
    t = np.arange(start, stop) / SAMPLE_RATE
    index, into = self._syllable(t)
    # Pitch contour f0 (1 + 0.08 sin(2 pi 0.5 t + a) + 0.04 sin(2 pi 2.3 t + b)), integrated exactly.
    phase = 2 * np.pi * self.f0 * (
        t - 0.08 / (2 * np.pi * 0.5) * np.cos(2 * np.pi * 0.5 * t + self.f0_phases[0])
        - 0.04 / (2 * np.pi * 2.3) * np.cos(2 * np.pi * 2.3 * t + self.f0_phases[1]))
    harmonics = np.arange(1, int(MAX_HARMONIC_HZ / self.f0) + 1)
    hz = harmonics * self.f0
    # Harmonic weights of each vowel: two formant peaks over a falling glottal spectrum.
    weights = (np.exp(-np.square((hz[None] - VOWELS[:, :1]) / 150))
               + 0.6 * np.exp(-np.square((hz[None] - VOWELS[:, 1:2]) / 250)) + 0.15 / harmonics[None])
    weights /= weights.sum(axis=1, keepdims=True)
    voice = np.zeros_like(t)
    vowel = self.vowels[index]
    for k, harmonic in enumerate(harmonics):
      voice += weights[vowel, k] * np.sin(harmonic * phase)
    burst = np.where(self.bursts[index] & (into >= 0), np.exp(-np.maximum(into, 0) / 0.03), 0.0)
    noise = np.diff(rng.standard_normal(t.size + 1))  # high-passed white noise
    y = 0.6 * self.envelope(t) * voice + 0.08 * burst * noise + 0.002 * noise
    return np.clip(y, -1, 1).astype(np.float32)


def make_speech(rng: np.random.Generator, seconds: float, female: bool) -> Speech:
  """Phrases of 1.5-5 s of 0.12-0.3 s syllables, separated by 0.2-0.8 s pauses; at least one
  syllable however short the clip."""
  starts, durations = [], []
  t = rng.uniform(0.1, 0.5) * min(1.0, seconds)
  while t < seconds:
    phrase_end = t + rng.uniform(1.5, 5.0)
    while t < min(phrase_end, seconds):
      length = rng.uniform(0.12, 0.3)
      starts.append(t)
      durations.append(length)
      t += length + rng.uniform(0.0, 0.04)
    t += rng.uniform(0.2, 0.8)
  n = len(starts)
  return Speech(starts=np.array(starts), durations=np.array(durations),
                loudness=rng.uniform(0.5, 1.0, n), vowels=rng.integers(0, len(VOWELS), n),
                bursts=rng.random(n) < 0.6,
                f0=rng.uniform(190, 230) if female else rng.uniform(100, 130),
                f0_phases=rng.uniform(0, 2 * np.pi, 2))


@dataclasses.dataclass(frozen=True)
class Motion:
  """Per-frame head motion of one identity."""
  angles: np.ndarray  # (N, 3) pitch, roll, yaw in radians
  pivot: np.ndarray  # (N, 2) frame pixels of PIVOT
  scale: np.ndarray  # (N,) face half-width in pixels
  openness: np.ndarray  # (N, 2) eye height / width, before the head turns
  gaze: np.ndarray  # (N,) -1..1
  mouth: np.ndarray  # (N,) 0..1


def make_motion(rng: np.random.Generator, n: int, fps: float, size: tuple[int, int],
                speech: Speech) -> Motion:
  """Smooth head pose, position and size, blinks every 2-6 s, the mouth following the speech."""
  width, height = size
  t = np.arange(n) / fps
  mid, half = POSE_RANGE.mean(axis=1), np.diff(POSE_RANGE, axis=1)[:, 0] / 2
  angles = np.stack([mid[i] + half[i] * smooth(rng, t, 0.03, 0.4) for i in range(3)], 1)
  scale = min(size) * rng.uniform(*FACE_SCALE) * (1 + 0.05 * smooth(rng, t, 0.01, 0.05))
  margin = 1.02 * REACH * scale.max()
  pivot = np.stack([
      width / 2 + (width / 2 - margin) * (0.3 * rng.uniform(-1, 1) + 0.6 * smooth(rng, t, 0.01, 0.1)),
      height / 2 + (height / 2 - margin) * (0.3 * rng.uniform(-1, 1) + 0.6 * smooth(rng, t, 0.01, 0.1))],
      1)
  closed = np.zeros(n)
  blink_at = rng.uniform(0.5, 3.0)
  while blink_at < t[-1] + 1:
    into = (t - blink_at) / 0.25  # a blink lasts 0.25 s
    closed = np.maximum(closed, np.where((into >= 0) & (into <= 1), np.sin(np.pi * into) ** 2, 0))
    blink_at += rng.uniform(2.0, 6.0)
  base = rng.uniform(0.3, 0.36) * (1 + 0.08 * smooth(rng, t, 0.02, 0.2))
  openness = (base * (1 - 0.72 * closed))[:, None] * np.array([1.0, rng.uniform(0.94, 1.0)])
  return Motion(angles=angles, pivot=pivot, scale=scale, openness=openness,
                gaze=0.5 * smooth(rng, t, 0.05, 0.5), mouth=speech.mouth(t))


# ----------------------------------------------------------------------------- drawing

@dataclasses.dataclass(frozen=True)
class Look:
  """Colours (RGB) and hair of one identity."""
  skin: tuple[int, int, int]
  hair: tuple[int, int, int]
  lips: tuple[int, int, int]
  iris: tuple[int, int, int]
  shirt: tuple[int, int, int]
  long_hair: bool


def make_look(rng: np.random.Generator, female: bool) -> Look:
  skins = np.array([(233, 192, 160), (214, 164, 124), (176, 122, 86), (120, 80, 56), (242, 208, 182)])
  hairs = np.array([(40, 28, 20), (90, 60, 35), (20, 20, 22), (150, 110, 60), (70, 45, 30)])
  jitter = lambda c: tuple(int(v) for v in np.clip(c + rng.integers(-12, 13, 3), 0, 255))  # noqa: E731
  return Look(skin=jitter(skins[rng.integers(len(skins))]), hair=jitter(hairs[rng.integers(len(hairs))]),
              lips=jitter(np.array((170, 80, 80))), iris=jitter(np.array((70, 90, 110))),
              shirt=tuple(int(v) for v in rng.integers(30, 220, 3)), long_hair=female)


def make_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
  """A static room-like backdrop (H, W, 3) uint8: a lit wall gradient, a few panels, fine texture."""
  width, height = size
  wall = rng.uniform(90, 200, 3)
  light = rng.uniform(0.2, 0.8, 2) * (width, height)
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  falloff = 1.1 - 0.5 * np.hypot(xx - light[0], yy - light[1]) / np.hypot(width, height)
  image = (falloff[..., None] * wall.astype(np.float32)).astype(np.float32)
  del yy, xx, falloff
  for _ in range(4):
    x0, y0 = rng.uniform(0, 1, 2) * (width, height)
    w, h = rng.uniform(0.1, 0.4, 2) * (width, height)
    cv2.rectangle(image, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)),
                  tuple(float(v) for v in rng.uniform(40, 230, 3)), -1)
  texture = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.5)
  image += (12 * texture)[..., None]
  return np.clip(image, 0, 255).astype(np.uint8)


def _fixed(points: np.ndarray) -> np.ndarray:
  """Points as cv2's fixed-point int32 (SHIFT fractional bits)."""
  return np.round(np.asarray(points) * (1 << SHIFT)).astype(np.int32)


def _shade(colour: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
  return tuple(int(min(255, c * factor)) for c in colour)


def draw_frame(canvas: np.ndarray, look: Look, landmarks: np.ndarray, extras: dict[str, np.ndarray],
               scale: float) -> None:
  """Draws the head (hair, ears, neck, shoulders, face) with the given landmarks onto `canvas`."""
  line = max(1, round(scale * 0.05))
  poly = lambda pts, colour: cv2.fillPoly(canvas, [_fixed(pts)], colour, AA, SHIFT)  # noqa: E731
  poly(extras["body"], look.shirt)
  poly(extras["neck"], _shade(look.skin, 0.85))
  poly(extras["hair"], look.hair)
  for ear in extras["ears"]:
    poly(ear, _shade(look.skin, 0.92))
  poly(np.concatenate([landmarks[list(layout106.CONTOUR)], extras["forehead"]]), look.skin)
  for brow in (layout106.LEFT_BROW, layout106.RIGHT_BROW):
    top, low = landmarks[list(brow[:5])], landmarks[list(brow[5:])]
    poly(np.concatenate([top, low[::-1]]), _shade(look.hair, 1.2))
  for outline, pupil, corners in ((layout106.LEFT_EYE, 104, layout106.LEFT_EYE_CORNERS),
                                  (layout106.RIGHT_EYE, 105, layout106.RIGHT_EYE_CORNERS)):
    eye = landmarks[list(outline)]
    poly(eye, (245, 245, 240))
    lids = layout106.LEFT_EYE_LIDS if pupil == 104 else layout106.RIGHT_EYE_LIDS
    eye_width = np.linalg.norm(landmarks[corners[0]] - landmarks[corners[1]])
    eye_height = np.linalg.norm(landmarks[lids[0]] - landmarks[lids[1]])
    radius = 0.28 * eye_width
    axes = _fixed((radius, min(radius, eye_height / 2)))
    cv2.ellipse(canvas, tuple(_fixed(landmarks[pupil])), tuple(axes), 0, 0, 360, look.iris, -1, AA, SHIFT)
    cv2.polylines(canvas, [_fixed(eye)], True, _shade(look.skin, 0.55), max(1, line // 2), AA, SHIFT)
  nose = _shade(look.skin, 0.75)
  cv2.polylines(canvas, [_fixed(landmarks[[78, 80, 82, 47, 48, 49, 50, 51, 83, 81, 79]])], False, nose,
                line, AA, SHIFT)
  poly(landmarks[list(layout106.OUTER_LIPS)], look.lips)
  poly(landmarks[list(layout106.INNER_LIPS)], (60, 20, 25))


def head_extras(angles: np.ndarray, pivot: np.ndarray, scale: float, long_hair: bool
                ) -> dict[str, np.ndarray]:
  """Frame pixels of what is drawn but not annotated: forehead, hair, ears (2, K, 2), neck,
  shoulders."""
  turn = lambda points: project(points, angles, pivot, scale)  # noqa: E731
  move = lambda points: pivot + scale * (points - PIVOT[:2])  # noqa: E731
  return {"forehead": turn(FOREHEAD), "hair": turn(HAIR[long_hair]),
          "ears": np.stack([turn(ear) for ear in EARS]), "neck": move(NECK), "body": move(SHOULDERS)}


# ----------------------------------------------------------------------------- writing

def frame_count(identity: str, scale: float) -> int:
  """Frames written for `identity` at `scale` of Table 1's count (at least 1)."""
  return max(1, round(FRAME_COUNTS[identity] * scale))


def write_audio(path: Path, speech: Speech, n_samples: int, entropy: list[int]) -> None:
  """Writes `n_samples` of the speech as 16-bit mono wav, AUDIO_CHUNK samples at a time."""
  partial = path.with_name(path.name + ".partial")
  with soundfile.SoundFile(str(partial), "w", SAMPLE_RATE, 1, "PCM_16", format="WAV") as f:
    for k, start in enumerate(range(0, n_samples, AUDIO_CHUNK)):
      rng = np.random.default_rng([*entropy, k])
      f.write(speech.samples(start, min(start + AUDIO_CHUNK, n_samples), rng))
  os.replace(partial, path)


def write_identity(root: Path, identity: str, n: int, size: tuple[int, int], fps: float, seed: int,
                   progress: tqdm.tqdm) -> None:
  """Writes one identity's audio, video, landmarks and labels; each file appears complete or not
  at all (written under a temporary name, then renamed)."""
  import imageio_ffmpeg  # pylint: disable=g-import-not-at-top

  female = identity.startswith("woman")
  entropy = [seed, zlib.crc32(identity.encode())]
  speech_rng, motion_rng, look_rng, background_rng = (
      np.random.default_rng([*entropy, k]) for k in range(4))
  seconds = n / fps
  speech = make_speech(speech_rng, seconds, female)
  audio_path = root / "audio" / f"{identity}.wav"
  write_audio(audio_path, speech, math.ceil(seconds * SAMPLE_RATE), [*entropy, 4])
  motion = make_motion(motion_rng, n, fps, size, speech)
  look = make_look(look_rng, female)
  background = make_background(background_rng, size)
  canvas = np.empty_like(background)
  video_path = root / "video" / f"{identity}.mp4"
  landmark_path = root / "landmark" / f"{identity}.txt"
  partial_video = video_path.with_name(video_path.name + ".partial")
  partial_landmarks = landmark_path.with_name(landmark_path.name + ".partial")
  writer = imageio_ffmpeg.write_frames(
      str(partial_video), size, fps=fps, codec="libx264", quality=None, macro_block_size=2,
      ffmpeg_log_level="error", output_params=["-crf", str(CRF), "-preset", PRESET, "-f", "mp4"])
  try:
    writer.send(None)
    with open(partial_landmarks, "w", encoding="utf-8") as lines:
      for i in range(n):
        points = face_points(motion.openness[i], motion.mouth[i], motion.gaze[i])
        landmarks = project(points, motion.angles[i], motion.pivot[i], motion.scale[i])
        extras = head_extras(motion.angles[i], motion.pivot[i], motion.scale[i], look.long_hair)
        np.copyto(canvas, background)
        draw_frame(canvas, look, landmarks, extras, motion.scale[i])
        writer.send(canvas)
        annotation = annvi_format.FrameAnnotation(
            frame=i, width=size[0], height=size[1], points=landmarks, pose=motion.angles[i],
            blink=blink.eye_ratios(landmarks))
        lines.write(annvi_format.format_line(annotation) + "\n")
        progress.update(1)
    writer.close()
  except BaseException:
    writer.close()
    partial_video.unlink(missing_ok=True)
    partial_landmarks.unlink(missing_ok=True)
    raise
  os.replace(partial_video, video_path)
  os.replace(partial_landmarks, landmark_path)
  label = annvi_format.format_ranges(annvi_format.frame_ranges(range(n)))
  (root / "label" / f"{identity}.txt").write_text(label, encoding="utf-8")


def _size(text: str) -> tuple[int, int]:
  try:
    width, height = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080") from None
  if width < 32 or height < 32 or width % 2 or height % 2:
    raise argparse.ArgumentTypeError(f"{text!r}: width and height must be even and at least 32 "
                                     "(H.264 4:2:0 needs even sides)")
  return width, height


def _seed(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
  if value < 0:
    raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
  return value


def _positive(text: str) -> float:
  try:
    value = float(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
  if not (math.isfinite(value) and value > 0):
    raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
  return value


def prepare_root(out: Path, overwrite: bool) -> None:
  """Makes the four AnnVI folders in `out`; a non-empty `out` needs `overwrite`, which empties
  them (anything else in `out` is left alone)."""
  if out.exists() and not out.is_dir():
    raise UserError(f"--out {out} exists and is not a folder: give a new or empty folder.")
  if out.is_dir() and any(out.iterdir()):
    if not overwrite:
      raise UserError(f"--out {out} exists and is not empty: give a new or empty folder, or pass "
                      "--overwrite to replace its video/, audio/, label/ and landmark/ folders.")
    for folder in raw_annvi.FOLDERS:
      shutil.rmtree(out / folder, ignore_errors=True)
  for folder in raw_annvi.FOLDERS:
    (out / folder).mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", type=Path, required=True, help="the raw root to write")
  parser.add_argument("--scale", type=_positive, default=1.0,
                      help="fraction of Table 1's frame counts to write (default 1.0)")
  parser.add_argument("--size", type=_size, default=(1920, 1080), help="frame size WxH (default 1920x1080)")
  parser.add_argument("--fps", type=_positive, default=30.0, help="frame rate (default 30)")
  parser.add_argument("--identities", nargs="+", choices=list(FRAME_COUNTS), default=list(FRAME_COUNTS),
                      metavar="ID", help=f"a subset of {', '.join(FRAME_COUNTS)} (default all)")
  parser.add_argument("--seed", type=_seed, default=0, help="seed of everything written (default 0)")
  parser.add_argument("--overwrite", action="store_true",
                      help="replace the AnnVI folders of a non-empty --out")
  args = parser.parse_args(argv)
  identities = list(dict.fromkeys(args.identities))
  counts = {name: frame_count(name, args.scale) for name in identities}
  try:
    prepare_root(args.out, args.overwrite)
    with tqdm.tqdm(total=sum(counts.values()), unit="frame", dynamic_ncols=True) as progress:
      for name in identities:
        progress.set_description(name)
        write_identity(args.out, name, counts[name], args.size, args.fps, args.seed, progress)
  except (UserError, OSError) as e:  # OSError: a full disk, an unwritable folder, ffmpeg failing
    print(f"error: {' '.join(str(e).split())[:400]}", file=sys.stderr)
    return 2
  print(f"wrote {args.out}: {len(identities)} identities, {sum(counts.values())} frames, "
        f"{args.size[0]}x{args.size[1]} at {args.fps:g} fps")
  return 0


if __name__ == "__main__":
  sys.exit(main())
