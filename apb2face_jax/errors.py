"""The one exception type for user mistakes.

Anything a user can get wrong (a missing file, a corrupt audio file, a NaN in an
annotation, a bad config value, the wrong checkpoint) raises `UserError` with a
message naming the thing and what to do. `launch.py` prints it on one line and
exits non-zero, without a traceback.
"""


class UserError(Exception):
  """A mistake in the user's input, files or configuration (not a bug)."""
