"""Imaging: uploaded bytes → one validated 8-bit grayscale radiograph → the model's input grid."""
