"""Flax (linen) modules of APB2Face."""
