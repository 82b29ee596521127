"""Generation speed: end-to-end frames/s and first-frame latency, next to the paper's figures.

  python bench/generate.py                 # sample-size and paper-size reenactors, random weights
  python bench/generate.py --sizes sample  # one of them

End to end = MFCC windows of the audio -> predictor -> rasteriser -> reenactor
-> uint8 frames on the host (MP4 encoding not included), through
`generate.Generator.stream`. First-frame latency = a 1 s audio chunk in, first
frame out, after compilation (batch 1, the live setting); the cold figure
includes compilation. Streaming latency = the live tab's (`live.LiveStream`,
batch `--live-batch`): microphone-sized chunks (`--chunk` s) pushed at the
audio's own pace, from a chunk's arrival to its last frame (median and p95;
the MFCC window's 0.37 s of look-ahead comes on top). Runs on whatever device
JAX finds (CPU or one GPU).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apb2face_jax import runtime  # noqa: E402

# Paper (docs/paper_and_code.md §1, §4): batch-1 speeds of the official networks.
PAPER_PREDICTOR_CPU_FPS = 260   # i7-8700K
PAPER_REENACTOR_GPU_FPS = 75    # 2080Ti, 256x256


def make_workdirs(root: Path, size: str) -> tuple[Path, Path]:
  """Random-weight predictor and reenactor workdirs (config.json + one checkpoint)."""
  import jax  # pylint: disable=g-import-not-at-top

  from apb2face_jax.data import splits  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train.convert import write_workdir  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train.predictor_task import PredictorTask  # pylint: disable=g-import-not-at-top
  from apb2face_jax.train.reenactor_task import ReenactorTask  # pylint: disable=g-import-not-at-top
  from configs import predictor, reenactor  # pylint: disable=g-import-not-at-top

  dirs = []
  for name, config, task_class in (("predictor", predictor.get_config(), PredictorTask),
                                   ("reenactor", reenactor.get_config(size), ReenactorTask)):
    task = task_class(config, steps_per_epoch=1)
    workdir = write_workdir(root / f"{name}_{size}", config, task, task.create_state(jax.random.key(0)),
                            {**splits.UNKNOWN_DATA, "fps": 30.0})
    dirs.append(workdir)
  return dirs[0], dirs[1]


def timed_stream(gen, samples, tracks, fps: float) -> tuple[float, int, float]:
  """(seconds to the first frame, frames, total seconds) of one stream call."""
  t0 = time.perf_counter()
  first, n = None, 0
  for _ in gen.stream([samples], *tracks, fps, mfcc_mode="compat"):
    first = first or time.perf_counter() - t0
    n += 1
  return first, n, time.perf_counter() - t0


def streaming_latency(gen, samples, tracks, fps: float, chunk_seconds: float) -> dict[str, float]:
  """`live.LiveStream` fed `chunk_seconds` chunks in real time: its latency figures."""
  from apb2face_jax.data import audio  # pylint: disable=g-import-not-at-top
  from apb2face_jax.inference import live  # pylint: disable=g-import-not-at-top

  session = live.LiveStream(gen, *tracks, fps)
  step = int(chunk_seconds * audio.SAMPLE_RATE)
  t0 = time.perf_counter()
  for k, start in enumerate(range(0, samples.size, step)):
    time.sleep(max(0.0, t0 + k * chunk_seconds - time.perf_counter()))  # a microphone's pace
    session.push(samples[start:start + step], audio.SAMPLE_RATE)
  session.finish()
  return session.figures()


def bench(size: str, seconds: float, batch: int, root: Path, live_batch: int = 4,
          chunk: float = 0.25) -> list[str]:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  from apb2face_jax.data import audio  # pylint: disable=g-import-not-at-top
  from apb2face_jax.inference import generate, pose_blink  # pylint: disable=g-import-not-at-top
  from apb2face_jax import inference  # pylint: disable=g-import-not-at-top

  predictor_dir, reenactor_dir = make_workdirs(root, size)
  predictor, reenactor = inference.load_predictor(predictor_dir), inference.load_reenactor(reenactor_dir)
  fps = generate.DEFAULT_FPS
  natural = pose_blink.NaturalMotion()
  tracks = (natural.pose_track(generate.DEFAULT_CENTRE, fps, 0), natural.blink_track(generate.DEFAULT_CENTRE, fps, 0))
  rng = np.random.default_rng(0)
  speech = lambda s: (0.1 * rng.normal(size=int(s * audio.SAMPLE_RATE))).astype(np.float32)  # noqa: E731
  device = jax.devices()[0].device_kind
  rows = []

  live = generate.Generator(predictor, reenactor, batch_size=1)
  cold, _, _ = timed_stream(live, speech(1.0), tracks, fps)
  warm = min(timed_stream(live, speech(1.0), tracks, fps)[0] for _ in range(3))
  bulk = generate.Generator(predictor, reenactor, batch_size=batch)
  timed_stream(bulk, speech(1.0), tracks, fps)  # compile
  _, frames, total = timed_stream(bulk, speech(seconds), tracks, fps)
  rows.append(f"| {size} ({reenactor.image_size}px, ngf {reenactor.model.settings['ngf']}) | {device} | {batch} | "
              f"{frames / total:.1f} | {1e3 * warm:.0f} ({cold:.1f} s cold) | "
              f"predictor {PAPER_PREDICTOR_CPU_FPS} (CPU), reenactor {PAPER_REENACTOR_GPU_FPS} (2080Ti) |")
  streaming = generate.Generator(predictor, reenactor, batch_size=live_batch)
  timed_stream(streaming, speech(1.0), tracks, fps)  # compile
  lat = streaming_latency(streaming, speech(min(seconds, 10.0)), tracks, fps, chunk)
  rows.append(f"| {size}: streaming, {chunk} s chunks in real time | {device} | {live_batch} | "
              f"{lat['frames_per_s']:.1f} (of work) | latency median {lat['median_ms']:.0f}, "
              f"p95 {lat['p95_ms']:.0f} (+370 look-ahead) | |")

  # The two networks alone, batch 1, warm (the paper's figures are of this kind).
  window = jax.numpy.zeros((1, audio.WINDOW, 3 * audio.N_MFCC))
  pose, blink = jax.numpy.zeros((1, 3)), jax.numpy.full((1, 2), 0.3)
  image = -jax.numpy.ones((1, reenactor.image_size, reenactor.image_size, 3))
  for name, call in (("predictor", lambda: predictor(window, pose, blink)), ("reenactor", lambda: reenactor(image))):
    call().block_until_ready()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 2.0:
      call().block_until_ready()
      n += 1
    rows.append(f"| {size}: {name} alone | {device} | 1 | {n / (time.perf_counter() - t0):.1f} | | |")
  return rows


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--sizes", nargs="+", default=["sample", "paper"], choices=["sample", "paper"])
  parser.add_argument("--seconds", type=float, default=None, help="audio length (default 10 s sample, 2 s paper on CPU)")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--live-batch", type=int, default=4, help="frames per call when streaming (configs/app.py)")
  parser.add_argument("--chunk", type=float, default=0.25, help="streamed audio chunk, s (configs/app.py)")
  args = parser.parse_args()
  runtime.configure()
  import jax  # pylint: disable=g-import-not-at-top

  on_cpu = jax.devices()[0].platform == "cpu"
  print("| reenactor | device | batch | frames/s end to end | first frame, warm ms (cold) | paper FPS, batch 1 |")
  print("|---|---|---|---|---|---|")
  with tempfile.TemporaryDirectory() as tmp:
    for size in args.sizes:
      seconds = args.seconds or (2.0 if size == "paper" and on_cpu else 10.0)
      for row in bench(size, seconds, args.batch, Path(tmp), args.live_batch, args.chunk):
        print(row, flush=True)


if __name__ == "__main__":
  main()
