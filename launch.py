"""Runs the job a config names: training, generation or evaluation.

  python launch.py --config configs/<job>.py --workdir DIR [--config.x=y ...]

User mistakes (a bad flag or config override, a missing file, an impossible
value) end with one message on stderr and exit status 2, no traceback.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

from apb2face_jax.errors import UserError
from configs.common import DISTRIBUTED_FIELDS

_CONFIG = config_flags.DEFINE_config_file("config", None, "Job config file (configs/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and outputs.")
flags.mark_flags_as_required(["config"])


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def _parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing, with config typos reported in one line."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    if "Traceback (most recent call last)" in str(e):  # the config file's get_config raised: its last line
      _fail(f"could not load --config: {str(e).strip().splitlines()[-1]}")
    _fail(f"{e}. See python launch.py --helpshort.")
  except (SyntaxError, ImportError) as e:  # the config file itself does not import
    _fail(f"could not load --config: {type(e).__name__}: {e}")
  except (AttributeError, KeyError, TypeError, ValueError) as e:
    reason = str(e).strip("'\"").replace("\\n", " ").replace("\n", " ").replace("\\'", "'")
    if reason.split(" ")[0].strip("'") in DISTRIBUTED_FIELDS:
      reason += " (generation and evaluation run as one process: the distributed settings are training's)"
    _fail(f"bad --config override: {reason}")
  return []


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}")
  from apb2face_jax import jobs  # pylint: disable=g-import-not-at-top  (after flags are parsed)

  try:
    config = _CONFIG.value
    config.get("job")  # the file is loaded lazily: this surfaces a load error here
  except OSError as e:
    _fail(f"could not load --config: {' '.join(str(e).split())}")
  try:
    jobs.run(config, _WORKDIR.value)
  except UserError as e:
    _fail(str(e))


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
