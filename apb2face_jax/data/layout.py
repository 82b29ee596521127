"""The AnnVI frame layout every layer shares: 106 landmarks on a 256-pixel face crop."""

NUM_POINTS = 106  # landmarks per frame (docs/paper_and_code.md §5)
CROP_SIZE = 256  # side of the stored face crops; landmarks are in their pixels (§5)
