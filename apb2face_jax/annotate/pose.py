"""Head pose from FaceMesh vertices: solvePnP (SQPnP) against a 3D mean face.

Camera: pinhole, focal length = frame width (pixels), principal point at the
frame centre, no distortion. Model-to-camera rotation R is split as

  R = Ry(-yaw) @ Rx(-pitch) @ Rz(roll)

in OpenCV camera axes (x image right, y image down, z away from the camera),
for a model that faces the camera at R = identity. Angles are in radians,
returned in AnnVI's stored order (pitch, roll, yaw). Signs, for an unmirrored
video:

  pitch > 0  the subject looks up (nose moves up in the image)
  roll  > 0  the head tilts towards the subject's left shoulder (the face turns
             clockwise in the image)
  yaw   > 0  the subject turns to their left (nose moves to the image right)
"""

from __future__ import annotations

import cv2
import numpy as np

# A small 3D mean face: vertices of MediaPipe's canonical face model
# (mediapipe/modules/face_geometry/data/canonical_face_model.obj, Apache-2.0),
# in its units (about cm) and axes (x image right, y up, z towards the camera).
# Rigid points only: eye corners, nose, temples, mouth corners; no chin or brows.
_MODEL = (
    (1, 0.0, -1.126865, 7.475604),  # nose tip
    (2, 0.0, -2.089024, 6.058267),  # below the septum
    (6, 0.0, 2.473255, 5.788627),  # nose bridge between the eyes
    (168, 0.0, 3.271027, 5.236015),  # nose bridge, top
    (33, -4.445859, 2.663991, 3.173422),  # image-left eye, outer corner
    (133, -1.856432, 2.585245, 3.757904),  # image-left eye, inner corner
    (362, 1.856432, 2.585245, 3.757904),  # image-right eye, inner corner
    (263, 4.445859, 2.663991, 3.173422),  # image-right eye, outer corner
    (98, -1.405627, -1.714196, 5.241087),  # nose wing base, image left
    (327, 1.405627, -1.714196, 5.241087),  # nose wing base, image right
    (127, -7.743095, 2.364999, -2.005167),  # temple by the ear, image left
    (356, 7.743095, 2.364999, -2.005167),  # temple by the ear, image right
    (61, -2.456206, -4.342621, 4.283884),  # mouth corner, image left
    (291, 2.456206, -4.342621, 4.283884),  # mouth corner, image right
)
MODEL_VERTICES = np.array([row[0] for row in _MODEL])
# The same points in OpenCV camera axes (y down, z away from the camera).
MODEL_POINTS = np.array([row[1:] for row in _MODEL]) * np.array([1.0, -1.0, -1.0])


def camera_matrix(width: int, height: int) -> np.ndarray:
  """Pinhole intrinsics: focal length = width, principal point at the centre."""
  return np.array([[width, 0.0, width / 2.0],
                   [0.0, width, height / 2.0],
                   [0.0, 0.0, 1.0]])


def _rx(angle: float) -> np.ndarray:
  c, s = np.cos(angle), np.sin(angle)
  return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(angle: float) -> np.ndarray:
  c, s = np.cos(angle), np.sin(angle)
  return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(angle: float) -> np.ndarray:
  c, s = np.cos(angle), np.sin(angle)
  return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_euler(pitch: float, roll: float, yaw: float) -> np.ndarray:
  """The model-to-camera rotation of the given pose (see the module docstring)."""
  return _ry(-yaw) @ _rx(-pitch) @ _rz(roll)


def euler_from_rotation(rotation: np.ndarray) -> np.ndarray:
  """(pitch, roll, yaw) in radians of a model-to-camera rotation matrix."""
  pitch = np.arcsin(np.clip(rotation[1, 2], -1.0, 1.0))
  roll = np.arctan2(rotation[1, 0], rotation[1, 1])
  yaw = -np.arctan2(rotation[0, 2], rotation[2, 2])
  return np.array([pitch, roll, yaw])


def estimate_pose(mesh: np.ndarray, width: int, height: int) -> np.ndarray | None:
  """(pitch, roll, yaw) from FaceMesh vertices in pixels, or None if the fit fails."""
  mesh = np.asarray(mesh, np.float64)
  if mesh.ndim != 2 or mesh.shape[0] <= MODEL_VERTICES.max() or mesh.shape[1] < 2:
    raise ValueError(f'expected FaceMesh vertices (468+, >=2), got {mesh.shape}')
  image_points = np.ascontiguousarray(mesh[MODEL_VERTICES, :2])
  if not np.all(np.isfinite(image_points)):
    return None
  ok, rvec, tvec = cv2.solvePnP(
      MODEL_POINTS, image_points, camera_matrix(width, height), None,
      flags=cv2.SOLVEPNP_SQPNP)
  if not ok or not np.all(np.isfinite(rvec)) or tvec[2, 0] <= 0.0:
    return None
  rotation, _ = cv2.Rodrigues(rvec)
  return euler_from_rotation(rotation)
