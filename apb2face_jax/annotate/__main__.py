"""Command line: python -m apb2face_jax.annotate VIDEO --root DIR --id NAME."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

from apb2face_jax.annotate import pipeline
from apb2face_jax.errors import UserError


def _parse(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      prog='python -m apb2face_jax.annotate',
      description='Annotate one talking-head video (landmarks, head pose, blink) '
                  "into AnnVI's raw layout: ROOT/{video,audio,label,landmark}/ID.*")
  parser.add_argument('video', type=Path, help='the .mp4 video of one person')
  parser.add_argument('--audio', type=Path, default=None,
                      help="the speech audio (copied as is); default: the video's "
                           'own audio track, written as .wav')
  parser.add_argument('--root', type=Path, required=True,
                      help='the raw dataset folder to write into')
  parser.add_argument('--id', required=True, dest='identity',
                      help='the identity name, e.g. man1 (a file name, no slashes)')
  parser.add_argument('--quiet', action='store_true', help='no progress bar')
  return parser.parse_args(argv)


def main(argv: list[str]) -> int:
  args = _parse(argv)
  try:
    report = pipeline.annotate_video(args.video, args.root, args.identity,
                                     audio=args.audio, show_progress=not args.quiet)
  except UserError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  print(report.summary())
  print(f'wrote {args.root}/{{video,audio,label,landmark}}/{args.identity}.*')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
