"""Evaluation: metrics, the Model Card's figures, the input-check and limits evaluations, and the bench."""
