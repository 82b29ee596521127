"""The `tfds_annvi` TFDS dataset (AnnVI talking-face frames); see README.md."""

from tfds_annvi.tfds_annvi_dataset_builder import Builder, prepare

__all__ = ["Builder", "prepare"]
