"""Starts one training job as N processes on this machine, as a cluster would.

  python tools/launch_local.py --processes 2 -- \
      --config configs/predictor.py --workdir /tmp/predictor_2p

Each process runs `launch.py` with the arguments after `--`, plus
`--config.coordinator_address=127.0.0.1:PORT` (a free port),
`--config.num_processes=N` and `--config.process_id=I`. On CPUs,
`--cpu_devices_per_process K` gives each process K devices. Output lines are
prefixed with `[I]`. SIGTERM or Ctrl-C here is passed on to every process (they
save at the same step, then exit 143). The exit status is the first non-zero
status of a process, else 0.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

LAUNCH = Path(__file__).resolve().parents[1] / "launch.py"


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def child_env(cpu_devices: int) -> dict[str, str]:
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  if cpu_devices:
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, f"--xla_force_host_platform_device_count={cpu_devices}"])
    env.setdefault("JAX_PLATFORMS", "cpu")
  return env


def relay(index: int, stream, sink) -> None:
  for line in stream:
    sink.write(f"[{index}] {line}")
    sink.flush()


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                   usage="%(prog)s --processes N [--cpu_devices_per_process K] -- LAUNCH_ARGS")
  parser.add_argument("--processes", type=int, required=True, help="how many processes (N >= 1)")
  parser.add_argument("--cpu_devices_per_process", type=int, default=0,
                      help="CPU devices per process (XLA_FLAGS); 0 leaves the platform's default")
  parser.add_argument("--port", type=int, default=0, help="coordinator port on 127.0.0.1 (default: a free one)")
  parser.add_argument("launch_args", nargs=argparse.REMAINDER, help="-- then the arguments of launch.py")
  args = parser.parse_args()
  launch_args = args.launch_args[1:] if args.launch_args[:1] == ["--"] else args.launch_args
  if args.processes < 1 or not launch_args:
    parser.error("give --processes N (N >= 1) and, after --, the arguments of launch.py")
  address = f"127.0.0.1:{args.port or free_port()}"
  env = child_env(args.cpu_devices_per_process)
  procs = []
  for i in range(args.processes):
    command = [sys.executable, str(LAUNCH), *launch_args, f"--config.coordinator_address={address}",
               f"--config.num_processes={args.processes}", f"--config.process_id={i}"]
    procs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    print(f"[launch_local] process {i}: pid {procs[-1].pid}", flush=True)
  relays = [threading.Thread(target=relay, args=(i, p.stdout, sys.stdout), daemon=True) for i, p in enumerate(procs)]
  for thread in relays:
    thread.start()

  def forward(signum, frame):  # pylint: disable=unused-argument
    for p in procs:
      if p.poll() is None:
        p.send_signal(signal.SIGTERM)

  signal.signal(signal.SIGTERM, forward)
  signal.signal(signal.SIGINT, forward)
  codes = [p.wait() for p in procs]
  for thread in relays:
    thread.join(timeout=5)
  print(f"[launch_local] exit statuses: {codes}", flush=True)
  return next((c if c > 0 else 128 - c for c in codes if c), 0)


if __name__ == "__main__":
  sys.exit(main())
