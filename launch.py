"""Runs the job a config names: training, generation or evaluation.

  python launch.py --config configs/<job>.py --workdir DIR [--config.x=y ...]

User mistakes end with one line on stderr and exit status 2, no traceback.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from apb2face_jax.errors import UserError

_CONFIG = config_flags.DEFINE_config_file("config", None, "Job config file (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.")
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from apb2face_jax import jobs  # pylint: disable=g-import-not-at-top  (after flags are parsed)

  try:
    jobs.run(_CONFIG.value, _WORKDIR.value)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
