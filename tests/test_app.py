"""The web app driven as a client would: gradio_client against the running page (tiny models)."""

import base64
import io
import os
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile
from PIL import Image

from apb2face_jax.errors import UserError
from tests.conftest import TINY_DATA, probe, speech_like

pytest.importorskip("gradio")


def uploads() -> list[Path]:
  """Files in Gradio's upload folder."""
  return [p for p in Path(os.environ["GRADIO_TEMP_DIR"]).rglob("*") if p.is_file()]


def test_generate_endpoint_returns_the_mp4_with_its_audio(served, speech):  # noqa: F811
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top

  _, _, url = served
  assert url.startswith("http://127.0.0.1:")
  video, figures = Client(url, verbose=False).predict(handle_file(str(speech)), api_name="/generate")
  path = video["video"] if isinstance(video, dict) else video
  frames, _ = imageio_ffmpeg.count_frames_and_secs(path)
  assert abs(frames - 2.0 * TINY_DATA["fps"]) <= 1
  assert "Audio: aac" in probe(Path(path)) and "32x32" in probe(Path(path))
  assert f"{frames} frames" in figures and "frames/s" in figures
  assert any(p.suffix == ".wav" for p in uploads())  # the upload folder the next test watches is this one


@pytest.mark.parametrize("kind, message", [
    ("text", "could not be decoded"), ("empty", "is empty"), ("silent", "is silent"),
    ("long", "more than the 5.0 s"),
])
def test_bad_uploads_give_one_message_and_leave_nothing(served, tmp_path, kind, message):
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top
  from gradio_client.exceptions import AppError  # pylint: disable=g-import-not-at-top

  path = tmp_path / ("bad.txt" if kind == "text" else "bad.wav")
  if kind == "text":
    path.write_text("this is not audio\n" * 50)
  elif kind == "empty":
    path.write_bytes(b"")
  elif kind == "silent":
    soundfile.write(path, np.zeros(16000, np.float32), 16000)
  else:
    soundfile.write(path, speech_like(6.0, 8000), 8000)
  before = set(uploads())
  with pytest.raises(AppError) as raised:
    Client(served[2], verbose=False).predict(handle_file(str(path)), api_name="/generate")
  assert message in str(raised.value) and "Traceback" not in str(raised.value)
  assert set(uploads()) <= before  # the upload was deleted


def test_the_page_shows_the_generation_progress(served, tmp_path, monkeypatch):
  import time  # pylint: disable=g-import-not-at-top
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top

  app = served[0]
  stream = app.generator.stream

  def slow_stream(*args, **kwargs):  # the tiny networks would finish before a status is read
    for frame in stream(*args, **kwargs):
      time.sleep(0.02)
      yield frame

  monkeypatch.setattr(app.generator, "stream", slow_stream)
  path = tmp_path / "speech.wav"
  soundfile.write(path, speech_like(4.0, 16000, seed=2), 16000)
  job = Client(served[2], verbose=False).submit(handle_file(str(path)), api_name="/generate")
  seen = []
  while not job.done():
    seen += [(p.unit, p.index, p.length) for p in job.status().progress_data or []]
    time.sleep(0.1)
  assert job.result()[1]
  frames = int(4.0 * TINY_DATA["fps"])
  assert any(unit == "frame" and 0 < index < frames and length == frames for unit, index, length in seen), seen


def test_too_large_an_upload_is_refused_by_gradio_and_by_the_app(served, tmp_path):
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top

  path = tmp_path / "large.wav"  # 1.4 MB of noise: over the 1 MB limit, under the 5 s one
  soundfile.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, (4 * 44100, 2)), 44100, subtype="FLOAT")
  with pytest.raises(ValueError, match="exceeds the maximum file size of 1048576 bytes"):
    Client(served[2], verbose=False).predict(handle_file(str(path)), api_name="/generate")
  with pytest.raises(UserError, match="more than the 1 MB allowed"):  # a client that skips gradio's check
    served[0].generate(str(path))


def test_pose_modes_and_refusals(served, speech):  # noqa: F811
  app = served[0]
  assert app.tracks_spec("constant", 0.1, 0.0, 0.0, 0.25, None, None) == ("yaw=0.1,pitch=0.0,roll=0.0",
                                                                           "left=0.25,right=0.25")
  with pytest.raises(UserError, match="needs a CSV file"):
    app.tracks_spec("csv", 0, 0, 0, 0.3, None, None)
  with pytest.raises(UserError, match="full_frame"):  # the tiny reenactor's dataset is not prepared
    app.generate(str(speech), full_frame=True)
  path, _ = app.generate(str(speech), "constant", 0.1, 0.0, 0.0, 0.25, side_by_side=True)
  assert "64x32" in probe(Path(path))


def test_live_stream_shows_faces_with_their_latency(served):
  session = served[0].live_stream()
  y = speech_like(1.5, 48000, seed=4)
  faces = [f for chunk in np.array_split((y * 32767).astype(np.int16), 6) for f in session.push(chunk, 48000)]
  faces += session.finish()
  assert [f.index for f in faces] == list(range(int(1.5 * TINY_DATA["fps"])))
  figures = session.figures()
  assert 0 < figures["median_ms"] <= figures["p95_ms"] and figures["frames"] == len(faces)
  assert figures["audio_seconds"] == pytest.approx(1.5)
  assert faces[0].face.shape == (32, 32, 3)
  assert session.push(y[:4800], 48000) == [] and session.finish() == []  # a late chunk: no hang, no frames


def test_a_failed_live_stream_raises_once_then_gives_nothing():
  from apb2face_jax.inference import live  # pylint: disable=g-import-not-at-top

  class Failing:  # a generator whose stream fails at its first chunk
    def stream(self, chunks, pose, blink, fps):
      next(iter(chunks))
      raise ValueError("device lost")
      yield  # pylint: disable=unreachable

  session = live.LiveStream(Failing(), None, None, 25.0)
  with pytest.raises(ValueError, match="device lost"):
    session.push(np.zeros(1600, np.float32), 16000)
  assert session.push(np.zeros(1600, np.float32), 16000) == [] and session.finish() == []  # no hang


def test_a_chunks_faces_play_as_one_animation_at_the_frame_rate():
  from apb2face_jax.app import page  # pylint: disable=g-import-not-at-top
  faces = [np.full((32, 32, 3), 40 * i, np.uint8) for i in range(5)]
  html = page.animation_html(faces, 25.0)
  data = base64.b64decode(html.split("base64,", 1)[1].split('"', 1)[0])
  with Image.open(io.BytesIO(data)) as animation:
    assert animation.format == "WEBP" and animation.n_frames == 5
    assert animation.info.get("loop") == 1  # played once
    animation.seek(4)
    assert abs(int(np.asarray(animation.convert("RGB")).mean()) - 160) <= 3


def test_a_taken_port_is_refused_in_one_line_before_the_models_load(served):
  from apb2face_jax.app import page  # pylint: disable=g-import-not-at-top
  from configs import app as app_config  # pylint: disable=g-import-not-at-top

  port = int(served[2].rstrip("/").rsplit(":", 1)[1])  # held by the running app
  config = app_config.get_config()
  config.update(port=port, predictor_workdir="/nonexistent", reenactor_workdir="/nonexistent")
  with pytest.raises(UserError, match=f"cannot serve on 127.0.0.1:{port}: another server holds the port; pass --config.port=N"):
    page.launch(config, block=False)


def test_https_needs_both_pem_files_and_a_real_pair(tmp_path):
  from apb2face_jax.app import page  # pylint: disable=g-import-not-at-top

  assert page.check_https(None, None) is False
  with pytest.raises(UserError, match="needs both --config.ssl_certfile and --config.ssl_keyfile"):
    page.check_https(str(tmp_path / "cert.pem"), None)
  with pytest.raises(UserError, match="ssl_certfile=.* does not exist"):
    page.check_https(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
  for name in ("cert.pem", "key.pem"):
    (tmp_path / name).write_text("not PEM\n")
  with pytest.raises(UserError, match="are not a PEM certificate and its private key .*openssl req -x509"):
    page.check_https(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))


def test_http_beyond_this_machine_is_told_the_microphone_needs_https():
  from apb2face_jax.app import page  # pylint: disable=g-import-not-at-top

  assert "SSH tunnel" in page.microphone_note("0.0.0.0", https=False)
  assert page.microphone_note("0.0.0.0", https=True) == ""
  assert page.microphone_note("127.0.0.1", https=False) == page.microphone_note("localhost", https=False) == ""


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_the_page_serves_https_with_a_self_signed_pair(workdirs, speech, tmp_path):  # noqa: F811
  import portpicker  # pylint: disable=g-import-not-at-top
  from gradio_client import Client, handle_file  # pylint: disable=g-import-not-at-top
  from apb2face_jax.app import page as app_lib  # pylint: disable=g-import-not-at-top
  from configs import app as app_config  # pylint: disable=g-import-not-at-top

  cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
  subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                  "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
  config = app_config.get_config()
  config.update(predictor_workdir=str(workdirs["predictor"]), reenactor_workdir=str(workdirs["reenactor"]),
                port=portpicker.pick_unused_port(), batch_size=8, ssl_certfile=str(cert), ssl_keyfile=str(key))
  app, page, url = app_lib.launch(config, block=False)
  try:
    assert url.startswith("https://127.0.0.1:")
    video, _ = Client(url, verbose=False, ssl_verify=False).predict(handle_file(str(speech)), api_name="/generate")
    path = video["video"] if isinstance(video, dict) else video
    assert "Audio: aac" in probe(Path(path))
  finally:
    page.close()
    app.close()
