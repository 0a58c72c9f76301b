"""Training: the kermany224 folders, the classifier and lung trainers, checkpoints, and export to weights/."""
