"""apb2face_jax.metrics against known values: SSIM vs scikit-image, FID, ALE/APE/ABE/DR, re-detection."""

import numpy as np
import pytest

from apb2face_jax.annotate import venv
from apb2face_jax.metrics import face_errors, fid, redetect
from apb2face_jax.metrics.ssim import ssim


def noisy_pair(shape, seed=0):
  rng = np.random.default_rng(seed)
  a = rng.integers(0, 256, shape).astype(np.uint8)
  b = np.clip(a.astype(int) + rng.integers(-60, 60, shape), 0, 255).astype(np.uint8)
  return a, b


def test_ssim_of_identical_images_is_one():
  a, _ = noisy_pair((2, 32, 40, 3))
  np.testing.assert_allclose(np.asarray(ssim(a, a, 255.0)), 1.0, atol=1e-6)


@pytest.mark.parametrize("shape,as_float", [((3, 48, 64, 3), False), ((2, 33, 29, 3), True)])
def test_ssim_matches_skimage_gaussian_settings(shape, as_float):
  metrics = pytest.importorskip("skimage.metrics")
  a, b = noisy_pair(shape)
  data_range = 255.0
  if as_float:  # images in [-1, 1], data_range 2
    a, b, data_range = a / 127.5 - 1.0, b / 127.5 - 1.0, 2.0
  ours = np.asarray(ssim(a, b, data_range))
  theirs = [metrics.structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          data_range=data_range, channel_axis=-1) for x, y in zip(a, b)]
  np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
  expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(v1) - np.sqrt(v2)) ** 2)
  assert fid.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, abs=1e-10)


def test_fid_of_a_set_against_itself_is_zero_and_grows_with_noise():
  rng = np.random.default_rng(0)
  features = rng.normal(size=(300, 64)) @ rng.normal(size=(64, 64))
  assert abs(fid.fid_from_features(features, features)) < 1e-6
  scores = [fid.fid_from_features(features, features + rng.normal(scale=s, size=features.shape)) for s in (0.3, 1, 3)]
  assert 0 < scores[0] < scores[1] < scores[2]


@pytest.mark.parametrize("n1,n2,d", [(200, 150, 16), (12, 10, 64)])
def test_fid_from_features_equals_frechet_distance_of_statistics(n1, n2, d):
  rng = np.random.default_rng(1)
  a, b = rng.normal(size=(n1, d)), 1.5 * rng.normal(size=(n2, d)) + 0.3
  expected = fid.frechet_distance(*fid.statistics(a), *fid.statistics(b))
  assert fid.fid_from_features(a, b) == pytest.approx(expected, rel=1e-6)


@pytest.mark.skipif(fid.unavailable_reason() is not None, reason=f"Inception unavailable: {fid.unavailable_reason()}")
def test_inception_fid_is_zero_on_the_same_images_and_grows_with_noise():
  a, b = noisy_pair((6, 64, 64, 3))
  features = fid.InceptionFeatures()
  fa, fb = features(a), features(b)
  assert fa.shape == (6, fid.FEATURE_DIM) and np.all(fa >= 0)  # pool features after ReLU
  np.testing.assert_allclose(features(a[:3]), fa[:3], rtol=1e-4, atol=1e-5)  # batch-independent (eval mode)
  assert abs(fid.fid_from_features(fa, fa)) < 1e-6
  assert fid.fid_from_features(fa, fb) > 1.0


def test_face_errors_of_known_values():
  points = np.random.default_rng(0).uniform(0, 256, (4, 106, 2))
  np.testing.assert_array_equal(face_errors.landmark_error(points, points), 0.0)
  np.testing.assert_allclose(face_errors.landmark_error(points + [3.0, 4.0], points), 5.0)
  np.testing.assert_allclose(face_errors.mean_abs_error(np.array([[0.1, -0.2, 0.3]]), np.zeros((1, 3))), [0.2])
  assert face_errors.detection_rate(np.array([True, False, True, True])) == 75.0


def test_redetect_reports_a_missing_annotator(tmp_path):
  with pytest.raises(redetect.AnnotatorUnavailable, match="does not exist"):
    redetect.redetect([tmp_path / "x.png"], tmp_path / "no-python")


@pytest.mark.skipif(not venv.annotator_python().is_file(),
                    reason=f"annotator venv absent (set ${venv.ENV_VAR})")
def test_redetect_finds_the_sample_face_near_its_labels_and_no_face_in_noise(tmp_path):
  from PIL import Image

  from apb2face_jax.data import crops
  from apb2face_jax.data import media, raw_annvi
  from apb2face_jax.data.layout import CROP_SIZE
  from tfds_annvi.tfds_annvi_dataset_builder import SAMPLE_DIR

  ident = raw_annvi.read_identity(SAMPLE_DIR, "carphone")
  i = len(ident.frames) // 2
  (_, rgb), = media.iter_frames(ident.video_path, ident.frames[i:i + 1])
  box = crops.crop_box(ident.landmarks[i])
  Image.fromarray(crops.crop_image(rgb, box, CROP_SIZE)).save(tmp_path / "face.png")
  Image.fromarray(noisy_pair((CROP_SIZE, CROP_SIZE, 3))[0]).save(tmp_path / "noise.png")
  found = redetect.redetect([tmp_path / "face.png", tmp_path / "noise.png"], venv.annotator_python())
  assert found.found.tolist() == [True, False] and found.dropped == {"no face found": 1}
  label = crops.to_crop_coords(ident.landmarks[i], box, CROP_SIZE)
  assert face_errors.landmark_error(found.landmarks[:1], label[None])[0] < 8.0  # px on the 256 crop
  assert face_errors.mean_abs_error(found.blink[:1], ident.blink[i:i + 1])[0] < 0.1
