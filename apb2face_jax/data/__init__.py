"""Data without JAX: audio, AnnVI readers, the dataset splits, crops, video files, torch files."""
