"""The web app (`configs/app.py`): a Gradio page to make talking-face videos, and a live microphone tab.

Models load once at start. The Generate button is one named API endpoint,
`generate` (audio file in, MP4 and the run's figures out, every other input
with a default), so `gradio_client` can drive it:

  from gradio_client import Client, handle_file
  video, figures = Client("http://127.0.0.1:7860/").predict(handle_file("speech.wav"), api_name="/generate")

User mistakes (not audio, empty, silent, too long, too large, a bad CSV) show
one message in the page (`gr.Error`) and the upload is deleted.
"""

import base64
import copy
import errno
import io
import ipaddress
import signal
import socket
import ssl
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from apb2face_jax.data import audio
from apb2face_jax.inference import generate, live, pose_blink
from apb2face_jax import inference
from apb2face_jax.errors import UserError

POSE_MODES = ("natural", "constant", "csv", "recorded")
LIVE_FACE_PX = 256      # our choice: the live face is shown at 256 px whatever the reenactor's size
LIVE_WEBP_QUALITY = 85  # our choice: a chunk's 8 faces at 128 px encode in a few ms at this quality


class App:
  """The loaded networks and what each request needs; `page()` builds the Gradio Blocks."""

  def __init__(self, config: ml_collections.ConfigDict):
    for name in ("predictor_workdir", "reenactor_workdir"):
      if not config.get(name):
        raise UserError(f"config.{name} is required: pass --config.{name}=...")
    if not config.max_audio_seconds > config.min_audio_seconds:
      raise UserError(f"config.max_audio_seconds={config.max_audio_seconds!r} must exceed "
                      f"config.min_audio_seconds={config.min_audio_seconds!r}.")
    self.config = config
    self.live_sessions: dict[str, live.LiveStream] = {}  # per browser session (a gr.State would be deep-copied)
    predictor = inference.load_predictor(config.predictor_workdir, config.checkpoint)
    reenactor = inference.load_reenactor(config.reenactor_workdir, config.checkpoint)
    self.data = predictor.data  # the predictor checkpoint's record of its training data
    self.fps = config.fps or self.data["fps"] or generate.DEFAULT_FPS
    self.generator = generate.Generator(predictor, reenactor, config.batch_size)
    self.live_generator = generate.Generator(predictor, reenactor, config.live_batch_size)
    # Compile both shapes and load the resampler now, not in the first request (that took 5 s).
    self.generator(np.zeros((1, audio.WINDOW, 3 * audio.N_MFCC)), np.zeros((1, 3)), np.full((1, 2), 0.3))
    try:
      self.identities = generate.recorded_signals(self.data)("all")[2]
    except UserError:  # the predictor's dataset is not prepared here: no recorded signals to offer
      self.identities = []
    try:
      self.full, self.no_full_frame = generate.full_frame(config, reenactor), ""
    except UserError as e:
      self.full, self.no_full_frame = None, str(e)
    self._outputs = tempfile.TemporaryDirectory(prefix="apb2face_app_")
    warm = self.live_stream()
    warm.push(np.zeros(48000, np.int16), 48000)  # 1 s at a microphone's usual rate
    warm.finish()

  def close(self) -> None:
    self._outputs.cleanup()

  def _request_config(self, audio_path: str, pose: str, blink: str, side_by_side: bool) -> ml_collections.ConfigDict:
    c = copy.deepcopy(self.config)
    c.update(audio=audio_path, pose=pose, blink=blink, side_by_side=bool(side_by_side),
             output=str(Path(self._outputs.name) / f"{uuid.uuid4().hex}.mp4"))
    return c

  def _check_upload(self, path: str | None) -> str:
    if not path:
      raise UserError("no audio given: upload a speech file or record one with the microphone.")
    megabytes = Path(path).stat().st_size / 2**20
    if megabytes > self.config.max_upload_mb:
      raise UserError(f"the upload is {megabytes:.1f} MB, more than the {self.config.max_upload_mb} MB allowed: "
                      "send a shorter or compressed recording.")
    return path

  def tracks_spec(self, mode: str, yaw: float, pitch: float, roll: float, eye_open: float, csv_path: str | None,
                  identity: str | None) -> tuple[str, str]:
    """(pose, blink) config strings of the page's head-motion inputs."""
    if mode == "natural":
      return "natural", "natural"
    if mode == "constant":
      return f"yaw={yaw},pitch={pitch},roll={roll}", f"left={eye_open},right={eye_open}"
    if mode == "csv":
      if not csv_path:
        raise UserError("pose and blink 'csv' needs a CSV file: upload one (columns pitch,roll,yaw,"
                        "blink_left,blink_right, one row per frame).")
      return csv_path, csv_path
    if mode == "recorded":
      if not identity:
        raise UserError("pose and blink 'recorded' needs an identity of the predictor's dataset: pick one.")
      return f"dataset:{identity}", f"dataset:{identity}"
    raise UserError(f"pose mode {mode!r} is not one of {', '.join(POSE_MODES)}.")

  def generate(self, audio_path: str | None, mode: str = "natural", yaw: float = 0.0, pitch: float = 0.0,
               roll: float = 0.0, eye_open: float = 0.3, csv_path: str | None = None, identity: str | None = None,
               full_frame: bool = False, side_by_side: bool = False) -> tuple[str, str]:
    """One video: (MP4 path, the run's figures as Markdown). Raises UserError on a user mistake."""
    samples = generate.load_speech(self._check_upload(audio_path), self.config.min_audio_seconds)
    seconds = samples.size / audio.SAMPLE_RATE
    if seconds > self.config.max_audio_seconds:
      raise UserError(f"the audio lasts {seconds:.1f} s, more than the {self.config.max_audio_seconds} s this "
                      "page takes (config.max_audio_seconds): cut it or use launch.py with configs/generate.py.")
    if full_frame and self.full is None:
      raise UserError(self.no_full_frame)
    config = self._request_config(audio_path, *self.tracks_spec(mode, yaw, pitch, roll, eye_open, csv_path,
                                                                identity), side_by_side)
    result = generate.write_video(config, self.generator, samples, self.fps, self.data,
                                  self.full if full_frame else None)
    figures = (f"{result['frames']:.0f} frames ({result['audio_seconds']:.2f} s of audio, "
               f"{int(result['width'])}x{int(result['height'])} at {result['fps']:.4g} fps) made in "
               f"{result['seconds']:.2f} s: **{result['frames'] / result['seconds']:.1f} frames/s**")
    return config.output, figures

  def live_stream(self) -> live.LiveStream:
    """A new live session: natural head motion and blinks around the dataset's centre."""
    centre = generate.centre_of(self.data)
    natural = pose_blink.NaturalMotion(**self.config.natural)
    return live.LiveStream(self.live_generator, natural.pose_track(centre, self.fps, self.config.seed),
                           natural.blink_track(centre, self.fps, self.config.seed), self.fps)

  def page(self) -> Any:
    """The Gradio Blocks: a Generate tab (the `generate` endpoint) and a Live tab."""
    import gradio as gr  # pylint: disable=g-import-not-at-top

    def on_generate(audio_path, mode="natural", yaw=0.0, pitch=0.0, roll=0.0, eye_open=0.3, csv_path=None,
                    identity=None, full_frame=False, side_by_side=False,
                    progress=gr.Progress(track_tqdm=True)):  # shows write_video's tqdm bar (frames made of all)
      del progress
      try:
        return self.generate(audio_path, mode, yaw, pitch, roll, eye_open, csv_path, identity, full_frame,
                             side_by_side)
      except UserError as e:
        for upload in (audio_path, csv_path):
          _delete_upload(upload)
        raise gr.Error(str(e), print_exception=False) from None

    sessions = self.live_sessions

    def on_stop(request: gr.Request):  # the recording stopped, or the browser tab was closed
      session = sessions.pop(request.session_hash, None)
      if session is not None:
        try:
          session.finish()
        except UserError:
          pass  # under a second of recording: nothing more to show

    def on_chunk(chunk, request: gr.Request):
      if chunk is None:
        return gr.skip(), gr.skip()
      if request.session_hash not in sessions:
        sessions[request.session_hash] = self.live_stream()
      session = sessions[request.session_hash]
      rate, samples = chunk
      frames = session.push(samples, rate)
      return (animation_html([f.face for f in frames], self.fps) if frames else gr.skip()), \
          live_text(session.figures(), self.fps)

    limit = self.config.concurrency_limit
    with gr.Blocks(title="APB2Face", delete_cache=(3600, 3600)) as page:
      gr.Markdown("# APB2Face: speech, head pose and blink -> a talking face")
      with gr.Tab("Generate"):
        with gr.Row():
          with gr.Column():
            speech = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech",
                              elem_id="speech")
            mode = gr.Radio(list(POSE_MODES), value="natural", label="Head pose and blink")
            with gr.Row():
              yaw = gr.Slider(-0.35, 0.2, value=0.0, step=0.01, label="yaw (rad)")  # AnnVI's range (docs/paper_and_code.md §5)
              pitch = gr.Slider(-0.37, 0.38, value=0.0, step=0.01, label="pitch (rad)")
              roll = gr.Slider(-0.5, 0.5, value=0.0, step=0.01, label="roll (rad)")
              eye_open = gr.Slider(0.0, 0.6, value=0.3, step=0.01, label="eye openness")
            csv_file = gr.File(file_types=[".csv"], type="filepath", label="CSV track (mode csv)")
            identity = gr.Dropdown(self.identities, value=self.identities[0] if self.identities else None,
                                   label="Recorded signals of (mode recorded)")
            full_frame = gr.Checkbox(False, label="Full frame" + (f" (unavailable: {self.no_full_frame})"
                                                                  if self.no_full_frame else ""),
                                     interactive=self.full is not None)
            side_by_side = gr.Checkbox(False, label="Side by side (landmark image | face)")
            button = gr.Button("Generate", variant="primary", elem_id="generate")
          with gr.Column():
            video = gr.Video(label="Video", elem_id="video")
            figures = gr.Markdown(elem_id="figures")
        button.click(on_generate, [speech, mode, yaw, pitch, roll, eye_open, csv_file, identity, full_frame,
                                   side_by_side], [video, figures], api_name="generate", concurrency_limit=limit)
      with gr.Tab("Live"):
        gr.Markdown("Speak: each face appears as soon as its audio window is complete.")
        with gr.Row():
          # No recording waveform: drawing it took a third of a core in the browser.
          mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy", label="Microphone",
                         waveform_options=gr.WaveformOptions(show_recording_waveform=False))
          face = gr.HTML(label="Face", elem_id="live_face", min_height=LIVE_FACE_PX)
        live_figures = gr.Markdown(elem_id="live_figures")
        mic.start_recording(on_stop, None, None, api_visibility="private")  # a new recording, a new stream
        mic.stream(on_chunk, [mic], [face, live_figures], api_name="live",
                   stream_every=self.config.live_chunk_seconds, concurrency_limit=limit, show_progress="hidden")
        mic.stop_recording(on_stop, None, None, api_visibility="private")
      page.unload(on_stop)  # a tab closed while recording: its stream and worker thread go too
    page.queue(default_concurrency_limit=limit)
    return page


def animation_html(faces: list[np.ndarray], fps: float) -> str:
  """The faces a chunk completed as one animated WebP played once at `fps` (every face is shown, in time)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  images = [Image.fromarray(face) for face in faces]
  encoded = io.BytesIO()
  images[0].save(encoded, format="WEBP", save_all=True, append_images=images[1:], duration=round(1000 / fps),
                 loop=1, quality=LIVE_WEBP_QUALITY, method=0)
  data = base64.b64encode(encoded.getvalue()).decode()
  return (f'<img src="data:image/webp;base64,{data}" width="{LIVE_FACE_PX}" height="{LIVE_FACE_PX}" '
          'alt="generated face" style="image-rendering: auto">')


def live_text(figures: dict[str, float], fps: float) -> str:
  """The Live tab's figures line."""
  return (f"latency (audio chunk in -> face out, plus the 0.37 s the MFCC window looks ahead): median "
          f"**{figures['median_ms']:.0f} ms**, p95 **{figures['p95_ms']:.0f} ms**; "
          f"**{figures['frames_per_s']:.0f} frames/s** of work ({fps:.4g} needed); "
          f"{figures['frames']:.0f} frames from {figures['audio_seconds']:.1f} s of audio")


def _delete_upload(path: str | None) -> None:
  """Removes an uploaded file and its folder (Gradio keeps each upload in its own hashed folder)."""
  if not path:
    return
  upload = Path(path)
  upload.unlink(missing_ok=True)
  if upload.parent.is_dir() and not any(upload.parent.iterdir()):
    upload.parent.rmdir()


def check_address(host: str, port: int) -> None:
  """Refuses, in one line, an address this machine cannot serve on (before the models load)."""
  try:
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
      probe.bind(address)
  except OSError as e:
    if e.errno == errno.EADDRINUSE:
      raise UserError(f"cannot serve on {host}:{port}: another server holds the port; pass --config.port=N "
                      "(or stop that server).") from None
    raise UserError(f"cannot serve on {host}:{port} ({e.strerror or e}): --config.host must be an address of "
                    "this machine (127.0.0.1 serves this machine only, 0.0.0.0 every interface).") from None


def check_https(certfile: str | None, keyfile: str | None) -> bool:
  """Whether to serve https: both PEM files given and usable, or neither (one UserError otherwise)."""
  if not certfile and not keyfile:
    return False
  if not (certfile and keyfile):
    raise UserError("https needs both --config.ssl_certfile and --config.ssl_keyfile (PEM files), or neither.")
  for name, path in (("ssl_certfile", certfile), ("ssl_keyfile", keyfile)):
    if not Path(path).is_file():
      raise UserError(f"config.{name}={path!r} does not exist: give a PEM file.")
  try:
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
  except ssl.SSLError as e:
    raise UserError(f"{certfile} and {keyfile} are not a PEM certificate and its private key ({e.reason}); a "
                    "self-signed pair: openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj /CN=localhost "
                    "-keyout key.pem -out cert.pem") from None
  return True


def microphone_note(host: str, https: bool) -> str:
  """What to tell a user who serves http beyond this machine (browsers lend microphones to localhost or https)."""
  if https or ipaddress.ip_address(socket.getaddrinfo(host, None)[0][4][0]).is_loopback:
    return ""
  return (f"note: serving http on {host}: browsers on other machines will not lend this page their microphone "
          "(recording, Live tab); pass --config.ssl_certfile and --config.ssl_keyfile, or open the page through "
          "an SSH tunnel to 127.0.0.1.")


def launch(config: ml_collections.ConfigDict, block: bool = True) -> tuple[App, Any, str]:
  """Loads the models and serves the page on config.host:config.port; returns (app, page, url)."""
  check_address(config.host, config.port)
  note = microphone_note(config.host, check_https(config.ssl_certfile, config.ssl_keyfile))
  if note:
    print(note, flush=True)
  app = App(config)
  page = app.page()
  _, url, _ = page.launch(server_name=config.host, server_port=config.port, prevent_thread_lock=not block,
                          max_file_size=f"{config.max_upload_mb}mb", quiet=False, footer_links=["api"],
                          show_error=True, ssl_certfile=config.ssl_certfile, ssl_keyfile=config.ssl_keyfile,
                          ssl_verify=False)  # Gradio's own start-up request; a self-signed pair is fine
  return app, page, url


def run(config: ml_collections.ConfigDict) -> dict[str, float]:
  """The `app` job: serves until interrupted (Ctrl-C or SIGTERM; the videos made are deleted then)."""
  t0 = time.time()
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
  app = None
  try:
    app, _, _ = launch(config)
  finally:
    if app is not None:
      app.close()
  return {"seconds": time.time() - t0}

