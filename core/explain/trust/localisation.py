"""Localisation: how much of a map lies on the lung fields, and how far methods agree with one another.

- In-lung share: the share of the map's positive mass inside the lung mask (the committed U-Net's,
  core.models.lungs), measured by core.explain.methods.summarise exactly as the Explain grid's
  cards and the model-limits probe measure it. This is Quantus' relevance-mass accuracy (Arras,
  Osman, Samek. CLEVR-XAI. Information Fusion 2022) with the lungs as the "ground-truth" region. A
  flat map would score the lung area itself (`lung_area`): the figure to compare with. Pneumonia is
  in the lungs, so a map of it should be there; a map of NORMAL need not be.
- Agreement: Spearman's ρ of the absolute maps of every pair of methods (similarity.py), and each
  method's ρ with Grad-CAM, the map the rest of the app shows.
"""

from __future__ import annotations

import numpy as np

from core.explain.methods.summary import summarise
from core.explain.trust.similarity import rank_correlation_matrix

REFERENCE_METHOD = "gradcam"


def lung_share(heat: np.ndarray, lung_mask: np.ndarray | None) -> float | None:
    """Share of the positive mass of a 224-grid map on the lung mask (None without a mask)."""
    if lung_mask is None:
        return None
    return summarise(heat, False, lung_mask, [])["shares"]["lung_share"]


def lung_area(lung_mask: np.ndarray | None) -> float | None:
    """The lung fields' share of the image: the in-lung share of a flat map."""
    return None if lung_mask is None else round(float(np.mean(lung_mask)), 4)


def agreement(maps: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """(names, (M, M) Spearman ρ of |maps|)."""
    names = list(maps)
    return names, rank_correlation_matrix([maps[n] for n in names])


def agreement_with(maps: dict[str, np.ndarray], reference: str = REFERENCE_METHOD) -> dict[str, float]:
    """Each map's Spearman ρ with the reference map (which must be among `maps`)."""
    names, matrix = agreement(maps)
    row = matrix[names.index(reference)]
    return {name: round(float(row[i]), 4) for i, name in enumerate(names)}
