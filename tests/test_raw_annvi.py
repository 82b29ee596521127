"""Tests for apb2face_jax.data.raw_annvi on small synthetic raw roots."""

import os
import pathlib

import cv2
import numpy as np
import pytest
import soundfile

from apb2face_jax.data import media, raw_annvi
from apb2face_jax.errors import UserError

W, H, N_FRAMES, FPS = 64, 48, 12, 10.0


def landmark_line(frame: int, points: np.ndarray, pose=(0.1, -0.2, 0.3),
                  blink=(0.25, 0.3), size=f"{W}-{H}") -> str:
  pts = " ".join(f"{x}-{y}" for x, y in points)
  return (f"{frame}.jpg {size} {pts} {' '.join(map(str, pose))} "
          f"{' '.join(map(str, blink))}\n")


def points_for(frame: int) -> np.ndarray:
  angle = np.linspace(0, 2 * np.pi, 106, endpoint=False)
  return np.stack([32 + 10 * np.cos(angle) + frame,
                   24 + 12 * np.sin(angle)], axis=1).round(3)


def write_video(path: pathlib.Path, n: int = N_FRAMES) -> None:
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS,
                           (W, H))
  for i in range(n):
    frame = np.zeros((H, W, 3), np.uint8)
    frame[..., 2] = 20 * i  # BGR: red grows with the frame index
    writer.write(frame)
  writer.release()


def make_root(root: pathlib.Path, identity: str = "p1") -> pathlib.Path:
  for folder in raw_annvi.FOLDERS:
    (root / folder).mkdir(parents=True, exist_ok=True)
  write_video(root / "video" / f"{identity}.mp4")
  t = np.arange(int(44100 * N_FRAMES / FPS)) / 44100
  soundfile.write(root / "audio" / f"{identity}.wav",
                  0.3 * np.sin(2 * np.pi * 440 * t), 44100)
  (root / "label" / f"{identity}.txt").write_text("2 4\n\n7 9\n")
  (root / "landmark" / f"{identity}.txt").write_text(
      "".join(landmark_line(n, points_for(n)) for n in range(N_FRAMES)))
  return root


@pytest.fixture
def root(tmp_path) -> pathlib.Path:
  return make_root(tmp_path / "raw")


def test_good_root(root):
  assert raw_annvi.list_identities(root) == ["p1"]
  ident = raw_annvi.read_identity(root, "p1")
  np.testing.assert_array_equal(ident.frames, [2, 3, 4, 7, 8, 9])
  assert ident.landmarks.shape == (6, 106, 2)
  np.testing.assert_allclose(ident.landmarks[1], points_for(3))
  np.testing.assert_allclose(ident.pose, [[0.1, -0.2, 0.3]] * 6)
  np.testing.assert_allclose(ident.blink, [[0.25, 0.3]] * 6)
  assert ident.frame_size == (W, H) and ident.frame_count == N_FRAMES
  assert ident.fps == pytest.approx(FPS)
  assert ident.audio_path.endswith(os.path.join("audio", "p1.wav"))


def test_iter_frames_reads_requested_frames_as_rgb(root):
  video = str(root / "video" / "p1.mp4")
  got = list(media.iter_frames(video, [9, 2, 3]))
  assert [i for i, _ in got] == [2, 3, 9]
  for i, frame in got:
    assert frame.shape == (H, W, 3) and frame.dtype == np.uint8
    assert abs(int(frame[..., 0].mean()) - 20 * i) <= 6  # red is channel 0
    assert frame[..., 2].mean() < 6


def test_iter_frames_past_the_end(root):
  with pytest.raises(UserError, match="ends before frame 30"):
    list(media.iter_frames(str(root / "video" / "p1.mp4"), [1, 30]))


def test_negative_and_exponent_coordinates(root):
  points = points_for(0)
  points[0] = (-3.5, 10)
  points[1] = (4, -2.25)
  points[2] = (-1e-3, -7)
  (root / "landmark" / "p1.txt").write_text(
      "".join(landmark_line(n, points) for n in range(N_FRAMES)))
  ident = raw_annvi.read_identity(root, "p1")
  np.testing.assert_allclose(ident.landmarks[0, :3],
                             [[-3.5, 10], [4, -2.25], [-1e-3, -7]])


def replace_landmark_token(root, frame: int, index: int, token: str) -> None:
  path = root / "landmark" / "p1.txt"
  lines = path.read_text().splitlines(keepends=True)
  tokens = lines[frame].split()
  tokens[index] = token
  lines[frame] = " ".join(tokens) + "\n"
  path.write_text("".join(lines))


@pytest.mark.parametrize("index,token,message", [
    (5, "3.5-", "line 4: '3.5-' is not an 'x-y' point"),
    (5, "1-2-3", "line 4: '1-2-3' is not an 'x-y' point"),
    (5, "nan-3", "line 4: holds NaN or inf"),
    (108, "inf", "line 4: holds NaN or inf"),
    (112, "abc", "line 4: 'abc' is not a number"),
    (0, "frame3.png", "line 4: first token 'frame3.png'"),
    (1, "640-480", "line 4: image size '640-480'"),
])
def test_bad_landmark_tokens(root, index, token, message):
  replace_landmark_token(root, 3, index, token)
  with pytest.raises(UserError, match=message) as e:
    raw_annvi.read_identity(root, "p1")
  assert "landmark" in str(e.value) and "p1.txt" in str(e.value)


def test_wrong_token_count(root):
  path = root / "landmark" / "p1.txt"
  path.write_text(path.read_text() + "12.jpg 64-48 1-2 3\n")
  with pytest.raises(UserError, match=r"line 13: expected 113 tokens .*got 4"):
    raw_annvi.read_identity(root, "p1")


def test_duplicate_frame(root):
  path = root / "landmark" / "p1.txt"
  path.write_text(path.read_text() + landmark_line(3, points_for(3)))
  with pytest.raises(UserError, match="frame 3 appears twice"):
    raw_annvi.read_identity(root, "p1")


def test_labelled_frame_without_landmarks(root):
  path = root / "landmark" / "p1.txt"
  path.write_text("".join(landmark_line(n, points_for(n))
                          for n in range(N_FRAMES) if n != 8))
  with pytest.raises(UserError, match="no line for 1 labelled frame.*first: 8"):
    raw_annvi.read_identity(root, "p1")


@pytest.mark.parametrize("text,message", [
    ("2 4\n5 12\n", "runs past the video's last frame 11"),
    ("4 2\n", "reversed"),
    ("2 4 6\n", "two frame indices"),
    ("a 4\n", "'a' is not a frame index"),
    ("-1 4\n", "'-1' is not a frame index"),
    ("\n", "names no frames"),
])
def test_bad_labels(root, text, message):
  (root / "label" / "p1.txt").write_text(text)
  with pytest.raises(UserError, match=message) as e:
    raw_annvi.read_identity(root, "p1")
  assert "p1.txt" in str(e.value)


@pytest.mark.parametrize("remove", ["video/p1.mp4", "audio/p1.wav",
                                    "label/p1.txt", "landmark/p1.txt"])
def test_missing_file(root, remove):
  (root / remove).unlink()
  with pytest.raises(UserError, match=remove.split("/")[0]):
    raw_annvi.read_identity(root, "p1")


def test_two_audio_files(root):
  (root / "audio" / "p1.mp3").write_bytes(b"x")
  with pytest.raises(UserError, match="several audio files"):
    raw_annvi.read_identity(root, "p1")


def test_missing_root_and_folders(tmp_path, root):
  with pytest.raises(UserError, match="does not exist"):
    raw_annvi.list_identities(tmp_path / "nowhere")
  (root / "landmark" / "p1.txt").unlink()
  (root / "landmark").rmdir()
  with pytest.raises(UserError, match="has no landmark folder"):
    raw_annvi.list_identities(root)


def test_no_videos(tmp_path):
  for folder in raw_annvi.FOLDERS:
    (tmp_path / folder).mkdir()
  with pytest.raises(UserError, match="holds no .mp4"):
    raw_annvi.list_identities(tmp_path)


@pytest.mark.parametrize("identity", ["../p1", "a/b", "", ".."])
def test_identity_with_path_separators(root, identity):
  with pytest.raises(UserError, match="is not a usable identity name"):
    raw_annvi.read_identity(root, identity)


def test_corrupt_video(root):
  (root / "video" / "p1.mp4").write_bytes(b"not a video" * 100)
  with pytest.raises(UserError, match="p1.mp4"):
    raw_annvi.read_identity(root, "p1")
