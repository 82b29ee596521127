"""The paper's Table 1 metrics as functions: SSIM, FID, and DR/ALE/APE/ABE of re-detected faces.

`ssim` (JAX), `fid` (Frechet distance in float64; Inception features need the
optional torch extra), `face_errors` (numpy), `redetect` (runs the data's
annotator in its own venv). The evaluation job (`apb2face_jax.metrics.evaluate`)
puts them together.
"""
