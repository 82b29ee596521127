"""Training: the shared loop, checkpoints, sharding, summaries, the input pipeline and the two Tasks."""
