"""Offline face annotator: a video -> AnnVI's raw layout for one identity.

Run `python -m apb2face_jax.annotate VIDEO --root DIR --id NAME [--audio FILE]`
in the annotator's own venv (tools/annotate-requirements.txt: MediaPipe
FaceMesh needs numpy < 2). Only numpy, OpenCV, MediaPipe and tqdm are used
here, never JAX or TensorFlow; MediaPipe is imported only when a video is
annotated, so the layout, pose, blink and format modules work in any venv.
"""
