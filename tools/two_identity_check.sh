#!/usr/bin/env bash
# End-to-end check of multi-identity data from your own videos (issue: "training
# data from your own talking-head video"): annotate the carphone clip and a
# second, mirrored and trimmed clip (tools/make_second_identity.py) into one raw
# AnnVI root, build tfds_annvi/annvi from it, and run a few steps of both
# trainings on it. Usage, from anywhere:
#
#   tools/two_identity_check.sh [WORK]        (default WORK: /tmp/apb2face_two_ids)
#
# ANNOT_PYTHON (default /work/annot-venv/bin/python) runs the annotator;
# PYTHON (default /work/venv/bin/python) builds and trains.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/apb2face_two_ids}
ANNOT=${ANNOT_PYTHON:-/work/annot-venv/bin/python}
PY=${PYTHON:-/work/venv/bin/python}
STEPS=${STEPS:-20}
rm -rf "$WORK"
mkdir -p "$WORK"

"$ANNOT" tools/make_second_identity.py "$WORK/carphone_mirror.mp4"
"$ANNOT" -m apb2face_jax.annotate tfds_annvi/sample/video/carphone.mp4 \
    --audio tfds_annvi/sample/audio/carphone.wav --root "$WORK/raw" --id carphone --quiet
"$ANNOT" -m apb2face_jax.annotate "$WORK/carphone_mirror.mp4" \
    --root "$WORK/raw" --id carphone_mirror --quiet

"$PY" - "$WORK" <<'PYTHON'
import sys
import tfds_annvi
work = sys.argv[1]
builder = tfds_annvi.prepare("annvi", data_dir=f"{work}/tfds", manual_dir=f"{work}/raw")
for split in ("train", "test"):
  ids = [r["identity"].decode() for r in builder.as_data_source(split)]
  print(split, {name: ids.count(name) for name in sorted(set(ids))})
PYTHON

for job in predictor reenactor; do
  "$PY" launch.py --config "configs/$job.py" --workdir "$WORK/$job" \
      --config.dataset=annvi --config.manual_dir="$WORK/raw" \
      --config.data_dir="$WORK/tfds" --config.num_train_steps="$STEPS"
  echo "$job: trained $STEPS steps on two identities"
done
