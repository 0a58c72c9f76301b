import math

import plotly.graph_objects as go
import streamlit as st

from core.evaluation import model_card as mc
from core.explain.limits import FLAG_TITLES
from core.formatting import number, share, signed_number
from core.services.explanations import trust_summary
from pages.auth_ui import require_login
from pages.common import MISSING, disclaimer, model_service, no_trained_model_notice
from pages.i18n_ui import N_, _, from_template, language, worded
from pages.limits_panel import flag_title
from pages.trust_panel import trust_benchmark

require_login()

st.title(_("Model Card"))
disclaimer()
lang = language()
service = model_service()
card = mc.load_card(service.weights_dir) if service.info.trained else None
if card is None:
    no_trained_model_notice()
    st.markdown(_("There is no trained model to describe yet, so this page has no figures to show."))
    st.stop()

# The figures' names (core.evaluation.model_card's keys) in the session's language.
METRIC_NAMES = {
    "accuracy": N_("Accuracy"),
    "sensitivity": N_("Sensitivity"),
    "specificity": N_("Specificity"),
    "precision": N_("Precision"),
    "f1": "F1",
    "auc": "AUC",
}
COMPARISON_COLUMNS = {
    "model": N_("model"),
    "test images": N_("test images"),
    "accuracy": N_("accuracy"),
    "auc": "AUC",
    "f1": "F1",
    "sensitivity": N_("sensitivity"),
    "specificity": N_("specificity"),
}
CHECK_COLUMNS = {
    "images": N_("images"),
    "expected": N_("expected"),
    "n": "n",
    "refused (stage 1)": N_("refused (stage 1)"),
    "analysed with a warning (stage 2)": N_("analysed with a warning (stage 2)"),
    "previous model: refused": N_("previous model: refused"),
}
EXPECTED = {"analysed": N_("analysed"), "refused": N_("refused"), "either": N_("either")}
FLAG_COLUMNS = {"flag": N_("flag"), "images": N_("images"), "share": N_("share"), "error rate": N_("error rate")}
FLAG_KEYS = {title: key for key, title in FLAG_TITLES.items()}


def renamed(rows: list[dict], columns: dict[str, str]) -> list[dict]:
    """Rows with their column names in the session's language (the data keeps core's English keys)."""
    return [{(_(columns[k]) if k in columns else k): v for k, v in row.items()} for row in rows]


def msg(text: str | None) -> str | None:
    """A stored English text that is a msgid, in the session's language (never _("") : that is the header)."""
    return _(text) if text else text


def fixed(x: float, decimals: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else number(x, decimals, lang)


def pct(x: float, decimals: int = 1) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else share(x, decimals, lang)


@st.cache_data(show_spinner=False)
def _intervals(labels, prob, threshold):
    return mc.bootstrap_ci(labels, prob, threshold)


def intervals(labels, prob, threshold):
    with st.spinner(_("Bootstrapping confidence intervals…")):
        return _intervals(labels, prob, threshold)


meta = card.meta
st.markdown(
    _(
        "**ResNet34** (torchvision, trained from scratch) · version `{version}` · exported {date}",
        version=service.version,
        date=meta.get("date") or _("on an unknown date"),
    )
)
st.markdown(_("**Intended use.** {text}", text=_(mc.INTENDED_USE)))

st.header(_("Test performance"))
if not card.has_predictions:
    st.warning(
        _(
            "No per-image test results to show: {status}. Run `python -m core export` to produce them.",
            status=_(card.predictions_status),
        ),
        icon=":material/warning:",
    )
    ci = None
else:
    ci = intervals(card.labels, card.probability, card.threshold)
    st.caption(
        _(
            "{status}, at the decision threshold {threshold} chosen on validation. "
            "Brackets: 95% bootstrap interval (2,000 resamples of the test images).",
            status=from_template(card.predictions_status, mc.TEST_IMAGES),
            threshold=fixed(card.threshold),
        )
    )
    cols = st.columns(len(mc.CI_METRICS))
    for col, name in zip(cols, mc.CI_METRICS):
        m = ci[name]
        col.metric(
            _(METRIC_NAMES[name]) if name in METRIC_NAMES else name,
            fixed(m["value"]),
            help=_("95% CI {low}–{high}", low=fixed(m["low"]), high=fixed(m["high"])),
        )
        col.caption(f"[{fixed(m['low'])}, {fixed(m['high'])}]")

st.subheader(_("Compared with published figures"))


def model_name(name: str) -> str:
    """The comparison's model names: this one and the previous in the session's language; published ones as published."""
    if name == mc.THIS_MODEL.format(id="installed"):  # no weights hash recorded
        return _(mc.THIS_MODEL, id=_("installed"))
    return from_template(name, mc.THIS_MODEL, mc.PREVIOUS_MODEL)


comparison = [row | {"model": model_name(row["model"])} for row in mc.reference_comparison(card, ci)]
st.dataframe(
    renamed(comparison, COMPARISON_COLUMNS),
    hide_index=True,
    placeholder=MISSING,
    column_config={
        _(COMPARISON_COLUMNS[k]): st.column_config.NumberColumn(format="%.3f")
        for k in ("accuracy", "auc", "f1", "sensitivity", "specificity")
    },
)
st.caption(
    _(
        "The published figures are on the full 624-image official test split; ours on the 313-image half "
        "shipped here (the other half is held back). Kermany et al. started from ImageNet weights; this "
        "model was trained from scratch on CPU."
    )
)

if card.has_predictions:
    left, right = st.columns(2)
    curve = mc.roc(card.labels, card.probability)
    one_minus = _("1 − specificity")
    sensitivity = _("sensitivity")
    fig = go.Figure(
        go.Scatter(
            x=curve["fpr"],
            y=curve["tpr"],
            mode="lines",
            name=f"AUC {fixed(curve['auc'])}",
            customdata=curve["thresholds"],
            hovertemplate=f"{one_minus} %{{x:.3f}}<br>{sensitivity} %{{y:.3f}}<br>"
            + _("threshold")
            + " %{customdata:.3f}<extra></extra>",
        )
    )
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot", color="grey"))
    fig.update_layout(
        title=_("ROC curve (test)"), xaxis_title=one_minus, yaxis_title=sensitivity, height=420, showlegend=True
    )
    left.plotly_chart(fig, key="roc")

    hover = (
        _("predicted")
        + " %{x:.2f}<br>"
        + _("observed")
        + " %{y:.2f}<br>"
        + _("%{customdata} images")
        + "<extra></extra>"
    )
    fig = go.Figure()
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot", color="grey"))
    for name, prob in ((_("calibrated"), card.probability), (_("before calibration"), card.uncalibrated)):
        if prob is None:
            continue
        rel = mc.reliability(card.labels, prob)
        fig.add_trace(
            go.Scatter(
                x=rel["predicted"],
                y=rel["observed"],
                mode="lines+markers",
                name=name,
                customdata=rel["count"],
                hovertemplate=hover,
            )
        )
    previous = mc.previous_test_predictions(card)
    if previous is not None:
        rel = mc.reliability(*previous)
        fig.add_trace(
            go.Scatter(
                x=rel["predicted"],
                y=rel["observed"],
                mode="lines+markers",
                line=dict(dash="dash"),
                name=_("previous model ({version})", version=meta["previous_model"]["model_version"]),
                customdata=rel["count"],
                hovertemplate=hover,
            )
        )
    calib = meta.get("calibration", {})
    fig.update_layout(
        title=_("Calibration (reliability) diagram (test)"),
        xaxis_title=_("predicted P(pneumonia)"),
        yaxis_title=_("observed share with pneumonia"),
        height=420,
    )
    right.plotly_chart(fig, key="reliability")
    test = meta.get("metrics", {}).get("test", {})
    old_test = (meta.get("previous_model") or {}).get("metrics", {}).get("test", {})
    nan = float("nan")
    right.caption(
        _(
            "Temperature {temperature}, fitted on validation. ECE on validation {val_before} → {val_after}; "
            "on test {test_before} → {test_after}",
            temperature=fixed(calib.get("temperature", 1.0)),
            val_before=fixed(calib.get("val_ece_before", nan)),
            val_after=fixed(calib.get("val_ece_after", nan)),
            test_before=fixed(test.get("ece_uncalibrated", nan)),
            test_after=fixed(test.get("ece", nan)),
        )
        + (_(" (previous model: {ece}).", ece=fixed(old_test["ece"])) if "ece" in old_test else ".")
    )

    st.subheader(_("Threshold explorer"))
    st.caption(
        _(
            "Move the threshold and watch sensitivity trade against specificity. The shipped threshold is "
            "fixed (chosen on validation); this is for learning, not for tuning."
        )
    )
    chosen = st.slider(
        _("Decision threshold on P(pneumonia)"),
        0.01,
        0.99,
        float(round(card.threshold, 2)),
        0.01,
        key="card_threshold",
    )
    op = mc.operating_point(card.labels, card.probability, chosen)
    cols = st.columns(5)
    for col, (label, key) in zip(
        cols,
        (
            (_("Sensitivity"), "sensitivity"),
            (_("Specificity"), "specificity"),
            (_("Precision (PPV)"), "precision"),
            ("NPV", "npv"),
            (_("Accuracy"), "accuracy"),
        ),
    ):
        col.metric(label, pct(op[key]))
    cm = op["confusion_matrix"]
    fig = go.Figure(
        go.Heatmap(
            z=[[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]],
            x=[_("predicted NORMAL"), _("predicted PNEUMONIA")],
            y=[_("true NORMAL"), _("true PNEUMONIA")],
            text=[[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(
        title=_("Confusion matrix at threshold {threshold} (test)", threshold=fixed(chosen, 2)),
        height=360,
        yaxis_autorange="reversed",
    )
    st.plotly_chart(fig, key="confusion")

st.header(_("Uncertainty and input guard"))
band, guard = meta.get("uncertainty"), meta.get("input_guard")
if band:
    st.markdown(
        _(
            "The Analyze page says the model **is not sure** when P(pneumonia) lies between {low} and {high}. "
            "On validation {uncertain} of images fell in that band; outside it accuracy was {accuracy}.",
            low=pct(band["band"][0]),
            high=pct(band["band"][1]),
            uncertain=pct(band["val_share_uncertain"]),
            accuracy=pct(band["val_accuracy_confident"]),
        )
    )
if guard:
    st.markdown(
        _(
            "The input check has two stages. **Stage 1** asks whether the image is a frontal chest X-ray at all: "
            "the lung U-Net must find two lung fields side by side, of plausible size, with confidence, and the "
            "image must be grey. Anything else (a photo, a document, another body part or modality, a lateral "
            "view) is refused with the reason; the user may analyse it anyway, and that is recorded. "
            "**Stage 2** measures how far the image's features lie from the training X-rays: beyond "
            "{threshold} (the {percentile}th percentile of validation images) the image is still analysed, with "
            "a warning that the model was trained on pediatric films of one centre and its output is unreliable "
            "there.",
            threshold=fixed(guard["threshold"], 1),
            percentile=f"{guard['percentile']:g}",
        )
    )
    table = [
        row | {"images": msg(row["images"]), "expected": msg(EXPECTED.get(row["expected"], row["expected"]))}
        for row in mc.input_check_table(meta)
    ]  # the categories' names are msgids (core.evaluation.input_check_eval)
    if table:
        st.dataframe(
            renamed(table, CHECK_COLUMNS),
            hide_index=True,
            placeholder=MISSING,
            column_config={
                _(CHECK_COLUMNS[k]): st.column_config.NumberColumn(format="percent")
                for k in ("refused (stage 1)", "analysed with a warning (stage 2)", "previous model: refused")
            },
        )
        st.caption(
            _(
                "`python -m core guard-eval`: images nobody trained on. The previous model had a single stage "
                "(colour or feature distance refused). No lateral chest film ships in any package we can install, "
                "so laterals are not measured here."
            )
        )
if not band and not guard:
    st.caption(_("No input guard or uncertainty band has been fitted for these weights (`python -m core fit-guard`)."))

st.header(_("Where the model looks: lungs, markers, borders"))
limits_card = mc.load_limits(service.weights_dir)
lungs_meta = limits_card.get("segmenter")
if lungs_meta:
    test_dice = lungs_meta.get("test", {})
    st.markdown(
        _(
            "Lung fields come from a small U-Net ({parameters} parameters) trained on lungs224 (V7 Labs masks, "
            "CC BY 4.0): Dice **{dice}** on {n} test images (median {median}).",
            parameters=number(lungs_meta.get("parameters", 0), 0, lang),
            dice=fixed(test_dice.get("mean_dice", float("nan"))),
            n=test_dice.get("n", 0),
            median=fixed(test_dice.get("median_dice", float("nan"))),
        )
    )
test_limits = limits_card.get("test")
if not test_limits:
    st.caption(
        _(
            "Explanation metrics on the test images have not been measured for these weights "
            "(`python -m core limits-fit` then `python -m core limits-eval --write`)."
        )
    )
else:
    outside = test_limits["mostly_outside_lungs"]
    cols = st.columns(4)
    cols[0].metric(
        _("Heatmap mostly outside the lungs"),
        pct(outside["all"]),
        help=_(
            "Share of the {n} test images with less than {threshold} of the Grad-CAM mass on the lung fields",
            n=test_limits["n"],
            threshold=pct(outside["threshold"], 0),
        ),
    )
    cols[1].metric(_("… when the model was right"), pct(outside["correct"]) if outside["correct"] is not None else "–")
    cols[2].metric(_("… when it was wrong"), pct(outside["wrong"]) if outside["wrong"] is not None else "–")
    erasure = test_limits["marker_erasure"]
    cols[3].metric(
        _("Mean P change when markers are erased"),
        signed_number(erasure["mean_delta"], 3, lang) if erasure["mean_delta"] is not None else "–",
        help=_(
            "Over the {n} test images with a detected marker; mean absolute change {change}",
            n=test_limits["images_with_marker"],
            change=erasure["mean_abs_delta"] if erasure["mean_abs_delta"] is not None else "–",
        ),
    )
    flags = [
        row | {"flag": flag_title(FLAG_KEYS[row["flag"]]) if row["flag"] in FLAG_KEYS else _(row["flag"])}
        for row in mc.flag_table(test_limits)
    ]
    st.dataframe(renamed(flags, FLAG_COLUMNS), hide_index=True, placeholder=MISSING)
    thresholds = limits_card.get("thresholds")
    if thresholds:
        st.caption(
            _(
                "Flag thresholds, fitted on the validation split: {thresholds}.",
                thresholds="; ".join(f"`{k}` {v}" for k, v in thresholds.items()),
            )
        )

trust_benchmark(trust_summary(service), "card")

st.header(_("How predictions are computed"))
status = service.runtime_status
st.markdown(
    _(
        "Predictions (label, probability, Grad-CAM, input check, limits probe) run on: **{runtime}**. "
        "Torch is the reference; the explanation methods that need gradients always run on torch.",
        runtime=worded(status.reason),
    )
)
if status.active:
    checked = service.runtime.meta.get("checked_against_torch", {})
    st.caption(
        _(
            "Exported from these weights (SHA-256 checked on load) and compared with torch on {images} X-rays: "
            "max |Δlogit| {logit}, max |ΔGrad-CAM| {cam}, max |Δ lung probability| {lungs}.",
            images=checked.get("images", 0),
            logit=f"{checked.get('max_abs_logit_diff', 0):.1e}",
            cam=f"{checked.get('max_abs_cam_diff', 0):.1e}",
            lungs=f"{checked.get('max_abs_lung_probability_diff', 0):.1e}",
        )
    )

st.header(_("Training data"))
for citation in mc.DATA_CITATIONS:  # as published
    st.markdown(f"- {citation}")
summary = mc.training_summary(meta)
if summary:
    st.json(summary, expanded=False)

st.header(_("Limitations"))
st.markdown("\n".join(f"- {_(item)}" for item in mc.LIMITATIONS))

with st.expander(_("Full classifier.json")):
    st.json({k: v for k, v in meta.items() if k != "training"} | {"training": summary})
