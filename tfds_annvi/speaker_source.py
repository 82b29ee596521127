"""The raw root of the `speaker` config: two talking-head clips of one man, with their own voice.

The clips ship inside the PyPI wheel of PsychoPy (GPL-3.0-or-later), so they are
never committed here: on first use `pip download --no-deps psychopy==2026.2.5`
fetches the wheel (a zip), the two files are read out of it and checked against
their sha256, and the data's own annotator (MediaPipe, in its venv, as
`tools/make_sample.py` uses it) writes the AnnVI raw layout, keeping each clip's
own audio track (44.1 / 48 kHz; the builder resamples to its 44.1 kHz). The root
is written in a scratch folder and renamed when complete: a failed build leaves
nothing that looks prepared. A wheel already present in the cache folder is used
as is (offline machines: copy it there).
"""

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from apb2face_jax.errors import UserError
from apb2face_jax.annotate import venv

PACKAGE, VERSION = "psychopy", "2026.2.5"  # the wheel the clips were measured in (issue #14)
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
ROOT_NAME = f"speaker_raw_{PACKAGE}_{VERSION}"


@dataclasses.dataclass(frozen=True)
class Clip:
  """One recording: its identity name, its path inside the wheel and its sha256."""
  identity: str
  member: str
  sha256: str


# 7.84 s, 352x288, 30.12 fps, 44.1 kHz AAC; 5.78 s, 640x480, 29.97 fps, 48 kHz AAC.
CLIPS = (
    Clip("testmovie", "psychopy/tests/data/testMovie.mp4",
         "e273111721b678f3e3806a58b4837f148a67dc1de73643d32bd3c3a034db87d1"),
    Clip("jwpintro", "psychopy/demos/coder/stimuli/jwpIntro.mp4",
         "f0c7ef7c6bdcdb37f099fbaa001d8901c927d8135851bc2542b55b21490f433c"),
)


def download_wheel(folder: Path) -> Path:
  """The pinned wheel in `folder`, fetched from the package index unless already there."""
  wheel = folder / WHEEL
  if wheel.is_file():
    return wheel
  result = subprocess.run(
      [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
       "--quiet", "-d", str(folder), f"{PACKAGE}=={VERSION}"],
      capture_output=True, text=True, check=False)
  if result.returncode != 0 or not wheel.is_file():
    said = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()), "no message")
    raise UserError(f"tfds_annvi/speaker: could not download {PACKAGE}=={VERSION} from the package index (pip: "
                    f"{said}); connect to PyPI, or copy {WHEEL} into {folder} and build again.")
  return wheel


def extract_clips(wheel: Path, folder: Path, clips: tuple[Clip, ...]) -> dict[str, Path]:
  """Each clip read out of `wheel` into `folder`/<identity>.mp4, its sha256 checked."""
  out = {}
  try:
    with zipfile.ZipFile(wheel) as archive:
      for clip in clips:
        data = archive.read(clip.member)
        digest = hashlib.sha256(data).hexdigest()
        if digest != clip.sha256:
          raise UserError(f"{clip.member} in {wheel} has sha256 {digest}, not the pinned {clip.sha256}: delete "
                          f"{wheel} and build again.")
        out[clip.identity] = folder / f"{clip.identity}.mp4"
        out[clip.identity].write_bytes(data)
  except (zipfile.BadZipFile, KeyError) as e:
    raise UserError(f"{wheel} is not the {PACKAGE} {VERSION} wheel ({e}): delete it and build again.") from None
  return out


def annotate(video: Path, root: Path, identity: str, python: Path) -> None:
  """The annotator's command line (`python -m apb2face_jax.annotate`) on one clip, its own audio kept."""
  if not python.is_file():
    raise UserError(f"tfds_annvi/speaker needs the annotator's venv and {python} does not exist: "
                    f"{venv.HOW_TO_CREATE}.")
  result = venv.run(python, "apb2face_jax.annotate", str(video), "--root", str(root), "--id", identity, "--quiet")
  if result.returncode != 0:
    raise UserError(f"tfds_annvi/speaker: the annotator ({python}) failed on {identity}: "
                    f"{venv.last_error_line(result)}")


def prepare_root(cache: Path, clips: tuple[Clip, ...] | None = None) -> Path:
  """The annotated raw root under `cache`, built (download, extract, annotate `clips`, default CLIPS) if absent."""
  cache, clips = Path(cache), clips or CLIPS
  root = cache / ROOT_NAME
  if root.is_dir():
    return root
  cache.mkdir(parents=True, exist_ok=True)
  python = venv.annotator_python()
  wheel = download_wheel(cache)
  with tempfile.TemporaryDirectory(dir=cache, prefix=f".{ROOT_NAME}.") as scratch:
    videos = extract_clips(wheel, Path(scratch), clips)
    partial = Path(scratch) / "root"
    for identity, video in videos.items():
      annotate(video, partial, identity, python)
    shutil.move(partial, root)
  return root
