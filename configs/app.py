"""The web app: a Gradio page to make talking-face videos from speech, and a live microphone tab.

  python launch.py --config configs/app.py \
      --config.predictor_workdir=/tmp/predictor --config.reenactor_workdir=/tmp/reenactor

serves http://127.0.0.1:7860/ (this machine only; `--config.host=0.0.0.0` to
expose it, `--config.port` to move it; `--config.ssl_certfile=cert.pem
--config.ssl_keyfile=key.pem` to serve https). Every field of configs/generate.py
applies as the default of each request (seed, natural motion, quality, fps,
the full-frame background and feather); the page chooses audio, pose and blink,
full frame and side by side. See apb2face_jax/app/page.py for the `generate` API.
"""

import ml_collections
from ml_collections import config_dict

from configs import generate


def get_config() -> ml_collections.ConfigDict:
  c = generate.get_config()
  c.job = "app"
  c.host = "127.0.0.1"          # our choice: local only unless asked
  c.port = 7860                 # Gradio's default port
  # HTTPS (both PEM files, or neither): browsers lend the microphone (Live tab, recording) only to pages on
  # localhost or https, so a page opened from another machine needs them (or an SSH tunnel to 127.0.0.1).
  c.ssl_certfile = config_dict.placeholder(str)
  c.ssl_keyfile = config_dict.placeholder(str)
  c.concurrency_limit = 1       # requests run one at a time (2 CPU cores: parallel runs only share them)
  c.max_audio_seconds = 60.0    # our choice: 1,800 frames, about 40 s of work at the sample size on 2 cores
  c.max_upload_mb = 20          # our choice: 60 s of 44.1 kHz 16-bit stereo WAV is 10.6 MB
  c.live_batch_size = 4         # frames per call in the live tab: 0.13 s of video at 30 fps
  c.live_chunk_seconds = 0.25   # our choice: microphone audio sent every 0.25 s
  return c
