"""Generation: a speech file -> a talking-face MP4 (H.264 + the audio as AAC).

  python launch.py --config configs/generate.py --config.audio=speech.wav \
      --config.predictor_workdir=/tmp/predictor --config.reenactor_workdir=/tmp/reenactor \
      --config.output=out.mp4

Pose and blink sources (`--config.pose`, `--config.blink`): 'natural' (smooth head
motion, blinks at a human rate, seeded by `seed`), constants ('yaw=0.2,pitch=0';
unnamed values stay at the identity's mean), a CSV track with one row per frame
(columns pitch,roll,yaw / blink_left,blink_right), or 'dataset:IDENTITY[@SPLIT]'
(the recorded signals of an identity of the predictor's dataset). See
docs/generation.md.

The whole picture instead of the face crop (the source video's resolution, the
generated face blended into the reenactor identity's own recording):

  python launch.py --config configs/generate.py --config.audio=speech.wav ... --config.full_frame=True
"""

import dataclasses

import ml_collections
from ml_collections import config_dict

from apb2face_jax.inference.pose_blink import NaturalMotion


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.job = "generate"
  c.audio = config_dict.placeholder(str)              # wav, flac, mp3, m4a, ...; any rate, mono or stereo
  c.predictor_workdir = config_dict.placeholder(str)  # --workdir of a configs/predictor.py run
  c.reenactor_workdir = config_dict.placeholder(str)  # --workdir of a configs/reenactor.py run
  c.output = config_dict.placeholder(str)             # the .mp4 to write
  c.checkpoint = "latest"       # or 'best' (lowest test L1) or a step number, for both networks

  c.pose = "natural"            # see the module docstring
  c.blink = "natural"
  c.seed = 0                    # of the natural motion
  # Natural motion (apb2face_jax/inference/pose_blink.py NaturalMotion, where each number's source is noted).
  c.natural = ml_collections.ConfigDict(dataclasses.asdict(NaturalMotion()))

  c.fps = config_dict.placeholder(float)  # default: the predictor's dataset's (29.97 if not prepared here)
  c.side_by_side = False        # True: landmark image | face
  # Full frame (apb2face_jax/inference/paste_back.py): the face pasted back into the reenactor identity's own
  # recording at the source video's resolution; needs a dataset with the source video (not annvi_features).
  c.full_frame = False
  c.identity = config_dict.placeholder(str)  # whose recording is the background (default: the dataset's only one)
  c.background = "pingpong"     # recording played forward and back ('still': its first usable frame)
  c.background_frames = 300     # our choice: first 300 usable frames (10 s at 30 fps; 830 MB at 1280x720)
  c.feather = 0.05              # our choice: blend ramp 5 % of the crop side (3.7 px on the sample: its crops are 73 px)
  c.batch_size = 16             # frames per jitted call (the last batch is padded)
  c.quality = 8.0               # imageio-ffmpeg H.264 quality, 0 (worst) .. 10 (best)
  c.min_audio_seconds = 0.5     # our choice: shorter audio is refused (the model's window is 0.74 s)
  c.compilation_cache_dir = config_dict.placeholder(str)
  return c
