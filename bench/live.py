"""The Live tab in a real browser: latency and frames/s as the page shows them, with speech on a fake microphone.

  python bench/live.py --predictor_workdir /tmp/predictor --reenactor_workdir /tmp/reenactor
  python bench/live.py                      # random-weight sample-size networks (the speed is the same)

Serves the app (configs/app.py) on a free local port, opens it in headless
Chromium (Debian's `chromium` + `chromium-driver`) whose fake microphone plays
`--speech` in a loop, presses Record on the Live tab and reads the tab's own
figures for `--seconds`: the latency (a chunk's arrival at the server -> its
last face out, median and p95; the MFCC window's 0.37 s of look-ahead comes
on top), the frames/s of work, the faces delivered and the audio received per
second of wall time, and the faces per second of audio received. The tab keeps
up with real time when the faces per audio second equal the frame rate and the
work rate exceeds it.
`--screenshot` saves the tab as a PNG.
"""

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import common  # configures JAX first
from generate import make_workdirs  # bench/generate.py

SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
FIGURES = re.compile(r"median (\d+) ms, p95 (\d+) ms; (\d+) frames/s of work .*; (\d+) frames from ([\d.]+) s")


def read_figures(text: str) -> tuple[float, ...] | None:
  """(median ms, p95 ms, frames/s of work, frames, audio s) from the Live tab's line, None before a face."""
  match = FIGURES.search(text.replace("*", ""))
  return tuple(float(x) for x in match.groups()) if match else None


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--predictor_workdir", type=Path)
  parser.add_argument("--reenactor_workdir", type=Path)
  parser.add_argument("--speech", type=Path, default=SPEECH,
                      help="WAV the fake microphone plays (default: a LibriVox utterance of Debian's "
                           "pocketsphinx-testdata)")
  parser.add_argument("--seconds", type=float, default=40.0, help="how long to stream")
  parser.add_argument("--chunk", type=float, default=None, help="config.live_chunk_seconds (default: the config's)")
  parser.add_argument("--screenshot", type=Path, help="PNG of the Live tab at the end")
  args = parser.parse_args()

  import portpicker  # pylint: disable=g-import-not-at-top

  from apb2face_jax.app import browser, page  # pylint: disable=g-import-not-at-top
  from configs import app as app_config  # pylint: disable=g-import-not-at-top

  if not args.speech.is_file():
    sys.exit(f"error: {args.speech} not found: pass --speech FILE.wav (or apt-get install pocketsphinx-testdata).")
  if not browser.available():
    sys.exit("error: headless Chromium is not installed: apt-get install chromium chromium-driver.")
  scratch = tempfile.TemporaryDirectory(prefix="bench_live_")
  os.environ.setdefault("GRADIO_TEMP_DIR", scratch.name)
  predictor, reenactor = args.predictor_workdir, args.reenactor_workdir
  weights = "trained"
  if predictor is None or reenactor is None:
    predictor, reenactor = make_workdirs(Path(scratch.name), "sample")
    weights = "random"
  config = app_config.get_config()
  config.update(predictor_workdir=str(predictor), reenactor_workdir=str(reenactor),
                port=portpicker.pick_unused_port())
  if args.chunk:
    config.live_chunk_seconds = args.chunk
  app, served, url = page.launch(config, block=False)
  driver = browser.open_chromium(microphone=args.speech.resolve())
  try:
    browser.start_live(driver, url)
    samples = []  # (wall time, figures)
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
      time.sleep(1.0)
      figures = read_figures(browser.live_figures(driver))
      if figures:
        samples.append((time.perf_counter(), figures))
    if args.screenshot:
      driver.save_screenshot(str(args.screenshot))
  finally:
    driver.quit()
    served.close()
    app.close()
  if len(samples) < 3:
    sys.exit(f"error: the Live tab showed {len(samples)} figures in {args.seconds:.0f} s: too few to measure.")
  (t0, first), (t1, last) = samples[1], samples[-1]  # from the second reading: the stream is under way
  wall = t1 - t0
  common.print_table(
      f"Live tab in headless Chromium: {weights} weights, reenactor {app.generator.image_size}px, batch "
      f"{config.live_batch_size}, chunks of {config.live_chunk_seconds} s, {t1 - samples[0][0]:.0f} s streamed; "
      f"load average {os.getloadavg()[0]:.1f}",
      ["latency median ms", "p95 ms", "frames/s of work", "faces delivered per s", "audio in per s",
       "faces per audio s", "frame rate", "frames"],
      [[last[0], last[1], last[2], (last[3] - first[3]) / wall, (last[4] - first[4]) / wall,
        (last[3] - first[3]) / max(last[4] - first[4], 1e-9), app.fps, int(last[3])]])

if __name__ == "__main__":
  main()
