"""apb2face_jax: APB2Face (audio + pose + blink -> talking face) in JAX/Flax.

Importing the package is cheap: it pulls in neither JAX nor TensorFlow, so the
offline annotator (`python -m apb2face_jax.annotate`) can run in an environment
of its own.
"""

__version__ = "0.1.0"
