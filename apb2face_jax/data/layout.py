"""The AnnVI layout every layer shares: 106 landmarks on a 256-pixel face crop, identity names."""

import re

from apb2face_jax.errors import UserError

NUM_POINTS = 106  # landmarks per frame (docs/paper_and_code.md §5)
CROP_SIZE = 256  # side of the stored face crops; landmarks are in their pixels (§5)
_IDENTITY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a file stem in video/, audio/, label/, landmark/


def check_identity(identity: str, what: str = "identity") -> str:
  """`identity` if it is usable as the file stem of an identity's files, else a UserError naming `what`."""
  if not _IDENTITY.match(identity):
    raise UserError(f'{what} "{identity}" is not a usable identity name: use letters, digits, "_" and "-" '
                    "(no dots or path separators), starting with a letter or digit, e.g. man1.")
  return identity
