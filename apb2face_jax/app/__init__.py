"""The web app: a Gradio page over `apb2face_jax.inference` (configs/app.py)."""
