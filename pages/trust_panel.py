"""Which map can you trust? The committed library-wide trust table, and one method's line on its card.

The figures come from `python -m core xai-eval` on kermany224/test (weights/xai_eval.json), read through
core.explain.trust; this module only lays them out, beside what the chest X-ray benchmarks report.
"""

from __future__ import annotations

import streamlit as st

from core.explain.trust import LEVEL_TITLES, VERDICT_LEVEL, VERDICT_THRESHOLD
from core.formatting import number, signed_number
from core.i18n import N_
from pages.common import number_table
from pages.i18n_ui import _, language

LITERATURE = (
    N_(
        "Saporta et al. (Nature Machine Intelligence 2022) evaluated seven saliency methods on chest X-rays against "
        "radiologists' outlines: Grad-CAM generally localised pathologies better than the other methods, and all "
        "seven performed significantly worse than the human benchmark, most of all for small findings with complex "
        "shapes."
    ),
    N_(
        "Arun et al. (Radiology: Artificial Intelligence 2021) tested eight methods for localisation, sensitivity to "
        "model randomisation, repeatability and reproducibility: all eight failed at least one criterion and were, in "
        "most cases, less trustworthy than the baselines; they recommend detection or segmentation models when "
        "localisation is what is wanted."
    ),
    N_(
        "Adebayo et al. (NeurIPS 2018), the origin of the randomisation test, found guided backpropagation and guided "
        "Grad-CAM nearly unchanged when the model's weights are randomised."
    ),
)
VERDICT_WORDS = {"pass": N_("pass"), "fail": N_("fail")}


def _mean(figure) -> float | None:
    return figure.get("mean") if isinstance(figure, dict) else None


def _with_interval(figure, digits: int = 2) -> str:
    if not isinstance(figure, dict) or figure.get("mean") is None:
        return "—"
    low, high = figure.get("ci95") or (None, None)
    lang = language()
    text = number(figure["mean"], digits, lang)
    if low is None or high is None:
        return text
    return f"{text} [{number(low, digits, lang)}, {number(high, digits, lang)}]"


def trust_rows(summary: dict) -> list[dict]:
    """One row per method (and the control) of the committed benchmark."""
    level = None
    rows = []
    for name, m in summary["methods"].items():
        level = m.get("randomization_verdict_level") or level
        spearman = (m.get("randomization_spearman") or {}).get(level or "", {})
        rows.append(
            {
                _("method"): name + (" " + _("(control)") if m.get("control") else ""),
                _("randomisation ρ"): _with_interval(spearman),
                _("sanity check"): _(VERDICT_WORDS.get(m.get("randomization_verdict"), "—")),
                _("deletion vs random"): _with_interval(m.get("deletion_vs_random")),
                _("insertion vs random"): _with_interval(m.get("insertion_vs_random")),
                _("ROAD vs random"): _with_interval(m.get("road_vs_random")),
                _("max-sensitivity"): _with_interval(m.get("stability_max_sensitivity"), 3),
                _("on the lungs"): _mean(m.get("lung_share")),
                _("agreement with Grad-CAM"): _mean(m.get("agreement_gradcam")),
                _("ms"): m.get("ms_median"),
            }
        )
    return rows


def trust_benchmark(summary: dict | None, key: str) -> None:
    """The library-wide table with its provenance, and the literature beside it."""
    st.markdown("#### " + _("Which map can you trust? The trust tests on the test images"))
    if not summary:
        st.caption(_("Not measured for these weights yet (`python -m core xai-eval ../shared/data/kermany224/test`)."))
        return
    st.caption(
        _(
            "{n} test images, model {version}, measured in {minutes} min on this 2-core machine; "
            "mean [95% bootstrap interval] over images. Sanity check: {rule}. Faithfulness on the target logit: "
            "deletion (lower is better) and insertion and ROAD (higher is better), each minus a random map of the "
            "same smoothness; max-sensitivity (lower is steadier).",
            n=summary["n_images"],
            version=summary.get("model_version", ""),
            minutes=f"{summary.get('wall_time_s', 0) / 60:.0f}",
            rule=_(
                "pass if Spearman's ρ of the absolute maps, trained model against the model with {level} "
                "re-initialised, is below {threshold} (the mean over images)",
                level=LEVEL_TITLES[VERDICT_LEVEL],
                threshold=VERDICT_THRESHOLD,
            ),
        )
    )
    number_table(
        trust_rows(summary),
        percent=(_("on the lungs"),),
        decimals={_("agreement with Grad-CAM"): 2, _("ms"): 0},
        key=f"{key}_trust_table",
    )
    with st.expander(_("What the chest X-ray benchmarks found"), icon=":material/menu_book:"):
        for text in LITERATURE:
            st.markdown("- " + _(text))


def method_trust_line(summary: dict | None, method: str) -> str | None:
    """One line for a method card: its verdict and figures in the committed benchmark, or None."""
    if not summary or method not in summary.get("methods", {}):
        return None
    m = summary["methods"][method]
    level = m.get("randomization_verdict_level")
    spearman = _mean((m.get("randomization_spearman") or {}).get(level or "", {}))
    verdict = m.get("randomization_verdict")
    return _(
        "On {n} test images: sanity check **{verdict}** (ρ = {rho} after scrambling {level}: the map "
        "{changed} when the model was scrambled); deletion vs random {deletion}, insertion vs random {insertion}; "
        "{lungs} of it on the lungs.",
        n=summary["n_images"],
        verdict=_(VERDICT_WORDS.get(verdict, "—")),
        rho="—" if spearman is None else number(spearman, 2, language()),
        level=(summary.get("level_titles") or {}).get(level, level or "—"),
        changed=_("did change") if verdict == "pass" else _("did not change"),
        deletion=_with_interval(m.get("deletion_vs_random")),
        insertion=_with_interval(m.get("insertion_vs_random")),
        lungs="—" if _mean(m.get("lung_share")) is None else f"{_mean(m.get('lung_share')):.0%}",
    )


def card_trust(subject, method: str, target: str, colour_map: str, opacity: float, key: str) -> None:
    """Under a method card: its committed figures, and on request this image's trust tests and scrambled maps."""
    from core.explain.display import map_overlay
    from core.explain.trust import LEVEL_TITLES
    from core.services.explanations import method_trust, scrambled_model_maps, trust_summary
    from pages.common import model_service

    service = model_service()
    line = method_trust_line(trust_summary(service), method)
    if line:
        st.markdown(line)
    store = st.session_state.setdefault("trust_figures", {})
    ident = (subject.pixel_hash, service.version, method, target)
    left, right = st.columns(2)
    if left.button(_("Trust tests on this image"), key=f"{key}_trust_{method}", icon=":material/verified:"):
        with st.spinner(_("Scrambling the model and re-measuring the map…")):
            store[ident] = method_trust(service, subject, method, target)
    if right.button(_("Show the scrambled-model maps"), key=f"{key}_scrambled_{method}", icon=":material/shuffle:"):
        with st.spinner(_("Computing the map once per scrambled block…")):
            store[("scrambled", *ident)] = scrambled_model_maps(service, subject, method, target)
    figures = store.get(ident)
    if figures is not None:
        level = figures.get("randomization_verdict_level")
        rho = (figures.get("randomization_spearman") or {}).get(level)
        verdict = figures.get("randomization_verdict")
        st.markdown(
            _(
                "**This image.** Sanity check **{verdict}**: ρ = {rho} after scrambling {level}. Deletion vs random "
                "{deletion}, insertion vs random {insertion}, ROAD vs random {road} (log-odds; deletion lower is "
                "better). Max-sensitivity {stability}. On the lungs: {lungs}.",
                verdict=_(VERDICT_WORDS.get(verdict, "—")),
                rho="—" if rho is None else number(rho, 2, language()),
                level=LEVEL_TITLES.get(level, level or "—"),
                deletion=_number(figures.get("deletion_vs_random")),
                insertion=_number(figures.get("insertion_vs_random")),
                road=_number(figures.get("road_vs_random")),
                stability=_number(figures.get("stability_max_sensitivity"), 3),
                lungs="—" if figures.get("lung_share") is None else f"{figures['lung_share']:.0%}",
            )
        )
    scrambled = store.get(("scrambled", *ident))
    if scrambled is not None:
        changed = _("did change") if scrambled.verdict == "pass" else _("did not change")
        st.markdown(_("**Scrambled model.** This map {changed} when we scrambled the model.", changed=changed))
        shown = [(_("trained model"), scrambled.trained, None)] + [
            (LEVEL_TITLES.get(level, level), heat, scrambled.spearman.get(level))
            for level, heat in scrambled.maps.items()
            if heat is not None
        ]
        cols = st.columns(min(len(shown), 4))
        for i, (title, heat, rho) in enumerate(shown):
            caption = title if rho is None else f"{title} · ρ = {number(rho, 2, language())}"
            cols[i % len(cols)].image(
                map_overlay(subject.gray224, heat, colour_map, opacity, subject.lung_mask),
                caption=caption,
                width="stretch",
            )


def _number(value, digits: int = 2) -> str:
    if isinstance(value, dict):
        value = value.get("mean")
    return "—" if value is None else signed_number(value, digits, language())
