"""The one exception type for user mistakes, and making the folders a user names.

Anything a user can get wrong (a missing file, a corrupt audio file, a NaN in an
annotation, a bad config value, the wrong checkpoint) raises `UserError` with a
message naming the thing and what to do. `launch.py` prints it on one line and
exits non-zero, without a traceback.
"""


from pathlib import Path


class UserError(Exception):
  """A mistake in the user's input, files or configuration (not a bug)."""


def make_folder(path: str | Path, what: str) -> Path:
  """`mkdir -p` of a folder the user named (`what`: how they named it), or one UserError saying why not."""
  path = Path(path)
  try:
    path.mkdir(parents=True, exist_ok=True)
  except (FileExistsError, NotADirectoryError):
    raise UserError(f"{what} {path} is a file, not a folder (or lies under a file): give a folder "
                    "(it is made if missing).") from None
  except OSError as e:
    raise UserError(f"{what} {path} cannot be made ({e.strerror}): give a writable folder.") from None
  return path
