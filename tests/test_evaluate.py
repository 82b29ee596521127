"""The evaluation job end to end on the builder's dummy data, with tiny untrained networks."""

import json
from pathlib import Path

import pytest

from apb2face_jax.metrics import evaluate
from apb2face_jax.errors import UserError
from apb2face_jax.metrics import fid
from apb2face_jax.train.predictor_task import PredictorTask
from apb2face_jax.train.reenactor_task import ReenactorTask
from configs import evaluate as evaluate_config
from configs import predictor as predictor_config
from configs import reenactor as reenactor_config
from tests.conftest import DUMMY_RAW, TINY_DATA, save_workdir

@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
  root = tmp_path_factory.mktemp("runs")
  data_dir = root / "tfds"
  p = predictor_config.get_config()
  p.update(dataset="annvi", data_dir=str(data_dir), manual_dir=str(DUMMY_RAW))
  data = {**TINY_DATA, "dataset": "annvi", "data_dir": str(data_dir)}
  save_workdir(root / "predictor", p, PredictorTask(p, 1), data=data, best=1.0)
  r = reenactor_config.get_config()
  r.update(image_size=32, ngf=4, ndf=4)
  r.generator_kwargs.n_blocks = 1
  for identity in ("person_a", "person_b"):
    save_workdir(root / f"reenactor_{identity}", r, ReenactorTask(r, 1), data=data, best=1.0)
  return root


def eval_config(runs: Path, **overrides):
  c = evaluate_config.get_config()
  # The dummy test split has one frame per identity: the train split gives FID a few images.
  c.update({"predictor_workdir": str(runs / "predictor"), "reenactor_workdir": str(runs / "reenactor_{identity}"),
            "predictor_checkpoint": "latest", "split": "train", "manual_dir": str(DUMMY_RAW), "max_per_identity": 4, "batch_size": 4, **overrides})
  return c


def test_writes_every_row_and_the_paper_numbers(runs, tmp_path):
  # The annotator itself is tested in test_metrics.py; here its absence must be reported, not fatal.
  config = eval_config(runs, cross_identity=True, annotator_python=str(tmp_path / "no-annotator"))
  result = evaluate.run(config, str(tmp_path))
  saved = json.loads((tmp_path / "metrics.json").read_text())
  assert saved["average"] == result["average"]
  assert set(saved["identities"]) == {"person_a", "person_b"}
  for row in saved["identities"].values():
    assert row["images"] == 4 and -1 <= row["ssim"] <= 1 and row["predictor_l1_px"] > 0
  assert set(saved["cross_identity"]["identities"]) == {"person_a", "person_b"}
  assert saved["cross_identity"]["identities"]["person_a"]["driver"] == "person_b"
  if fid.unavailable_reason() is None:
    assert saved["identities"]["person_a"]["fid_images"] == [4, 4] and saved["average"]["fid"] > 0
  else:
    assert "fid" in saved["unavailable"]
  assert set(evaluate.FACE_METRICS) <= set(saved["unavailable"])
  assert "no-annotator does not exist" in saved["unavailable"]["ale_px"]
  table = (tmp_path / "metrics.md").read_text()
  assert "ours: person_a" in table and "cross: person_b driven by person_a" in table
  assert "paper, Table 1" in table and "11.862" in table
  sync = saved["lipsync"]["identities"]["person_a"]
  assert set(sync) == {"predictor", "real", "mean_mouth", "loudness_fit", "nearest_mfcc", "series"}  # no annotator
  assert len(sync["series"]["frames"]) == len(sync["series"]["predictor"]) == 4
  assert sync["real"]["m_lmd_px"] == 0 and sync["predictor"]["m_lmd_px"] > 0
  assert "baseline: least-squares mouth from loudness" in table
  assert len(list((tmp_path / "images" / "person_a" / "generated").glob("*.png"))) == 4


def test_user_mistakes_are_named(runs, tmp_path):
  with pytest.raises(UserError, match="config.reenactor_workdir is required"):
    evaluate.run(eval_config(runs, reenactor_workdir=""), str(tmp_path))
  with pytest.raises(UserError, match="one reenactor per identity"):
    evaluate.run(eval_config(runs, cross_identity=True, reenactor_workdir=str(runs / "reenactor_person_a")),
                 str(tmp_path))
