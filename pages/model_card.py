import plotly.graph_objects as go
import streamlit as st

from core.evaluation import model_card as mc
from core.services.explanations import trust_summary
from pages.auth_ui import require_login
from pages.common import MISSING, disclaimer, model_service, no_trained_model_notice
from pages.trust_panel import trust_benchmark

require_login()

st.title("Model Card")
disclaimer()
service = model_service()
card = mc.load_card(service.weights_dir) if service.info.trained else None
if card is None:
    no_trained_model_notice()
    st.markdown("There is no trained model to describe yet, so this page has no figures to show.")
    st.stop()


@st.cache_data(show_spinner="Bootstrapping confidence intervals…")
def intervals(labels, prob, threshold):
    return mc.bootstrap_ci(labels, prob, threshold)


meta = card.meta
st.markdown(
    f"**ResNet34** (torchvision, trained from scratch) · version `{service.version}` · "
    f"exported {meta.get('date', 'on an unknown date')}"
)
st.markdown(f"**Intended use.** {mc.INTENDED_USE}")

st.header("Test performance")
if not card.has_predictions:
    st.warning(
        f"No per-image test results to show: {card.predictions_status}. Run `python -m core export` to produce them.",
        icon=":material/warning:",
    )
    ci = None
else:
    ci = intervals(card.labels, card.probability, card.threshold)
    st.caption(
        f"{card.predictions_status}, at the decision threshold {card.threshold:.3f} chosen on validation. "
        "Brackets: 95% bootstrap interval (2,000 resamples of the test images)."
    )
    cols = st.columns(len(mc.CI_METRICS))
    for col, name in zip(cols, mc.CI_METRICS):
        m = ci[name]
        col.metric(
            name.upper() if name in ("auc", "f1") else name.capitalize(),
            f"{m['value']:.3f}",
            help=f"95% CI {m['low']:.3f}–{m['high']:.3f}",
        )
        col.caption(f"[{m['low']:.3f}, {m['high']:.3f}]")

st.subheader("Compared with published figures")
st.dataframe(
    mc.reference_comparison(card, ci),
    hide_index=True,
    placeholder=MISSING,
    column_config={
        k: st.column_config.NumberColumn(format="%.3f") for k in ("accuracy", "auc", "f1", "sensitivity", "specificity")
    },
)
st.caption(
    "The published figures are on the full 624-image official test split; ours on the 313-image half "
    "shipped here (the other half is held back). Kermany et al. started from ImageNet weights; this "
    "model was trained from scratch on CPU."
)

if card.has_predictions:
    left, right = st.columns(2)
    curve = mc.roc(card.labels, card.probability)
    fig = go.Figure(
        go.Scatter(
            x=curve["fpr"],
            y=curve["tpr"],
            mode="lines",
            name=f"AUC {curve['auc']:.3f}",
            customdata=curve["thresholds"],
            hovertemplate="1−specificity %{x:.3f}<br>sensitivity %{y:.3f}<br>threshold %{customdata:.3f}",
        )
    )
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot", color="grey"))
    fig.update_layout(
        title="ROC curve (test)", xaxis_title="1 − specificity", yaxis_title="sensitivity", height=420, showlegend=True
    )
    left.plotly_chart(fig, key="roc")

    fig = go.Figure()
    fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot", color="grey"))
    for name, prob in (("calibrated", card.probability), ("before calibration", card.uncalibrated)):
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
                hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} images",
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
                name=f"previous model ({meta['previous_model']['model_version']})",
                customdata=rel["count"],
                hovertemplate="predicted %{x:.2f}<br>observed %{y:.2f}<br>%{customdata} images",
            )
        )
    calib = meta.get("calibration", {})
    fig.update_layout(
        title="Calibration (reliability) diagram (test)",
        xaxis_title="predicted P(pneumonia)",
        yaxis_title="observed share with pneumonia",
        height=420,
    )
    right.plotly_chart(fig, key="reliability")
    test = meta.get("metrics", {}).get("test", {})
    old_test = (meta.get("previous_model") or {}).get("metrics", {}).get("test", {})
    right.caption(
        f"Temperature {calib.get('temperature', 1.0):.3f}, fitted on validation. ECE on validation "
        f"{calib.get('val_ece_before', float('nan')):.3f} → {calib.get('val_ece_after', float('nan')):.3f}; "
        f"on test {test.get('ece_uncalibrated', float('nan')):.3f} → {test.get('ece', float('nan')):.3f}"
        + (f" (previous model: {old_test['ece']:.3f})." if "ece" in old_test else ".")
    )

    st.subheader("Threshold explorer")
    st.caption(
        "Move the threshold and watch sensitivity trade against specificity. The shipped threshold is "
        "fixed (chosen on validation); this is for learning, not for tuning."
    )
    chosen = st.slider(
        "Decision threshold on P(pneumonia)", 0.01, 0.99, float(round(card.threshold, 2)), 0.01, key="card_threshold"
    )
    op = mc.operating_point(card.labels, card.probability, chosen)
    cols = st.columns(5)
    for col, (label, key) in zip(
        cols,
        (
            ("Sensitivity", "sensitivity"),
            ("Specificity", "specificity"),
            ("Precision (PPV)", "precision"),
            ("NPV", "npv"),
            ("Accuracy", "accuracy"),
        ),
    ):
        col.metric(label, f"{op[key]:.1%}")
    cm = op["confusion_matrix"]
    fig = go.Figure(
        go.Heatmap(
            z=[[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]],
            x=["predicted NORMAL", "predicted PNEUMONIA"],
            y=["true NORMAL", "true PNEUMONIA"],
            text=[[cm["tn"], cm["fp"]], [cm["fn"], cm["tp"]]],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(
        title=f"Confusion matrix at threshold {chosen:.2f} (test)", height=360, yaxis_autorange="reversed"
    )
    st.plotly_chart(fig, key="confusion")

st.header("Uncertainty and input guard")
band, guard = meta.get("uncertainty"), meta.get("input_guard")
if band:
    st.markdown(
        f"The Analyze page says the model **is not sure** when P(pneumonia) lies between "
        f"{band['band'][0]:.1%} and {band['band'][1]:.1%}. On validation {band['val_share_uncertain']:.1%} of "
        f"images fell in that band; outside it accuracy was {band['val_accuracy_confident']:.1%}."
    )
if guard:
    st.markdown(
        "The input check has two stages. **Stage 1** asks whether the image is a frontal chest X-ray at all: "
        "the lung U-Net must find two lung fields side by side, of plausible size, with confidence, and the "
        "image must be grey. Anything else (a photo, a document, another body part or modality, a lateral "
        "view) is refused with the reason; the user may analyse it anyway, and that is recorded. "
        f"**Stage 2** measures how far the image's features lie from the training X-rays: beyond "
        f"{guard['threshold']:.1f} (the {guard['percentile']:g}th percentile of validation images) the "
        "image is still analysed, with a warning that the model was trained on pediatric films of one "
        "centre and its output is unreliable there."
    )
    table = mc.input_check_table(meta)
    if table:
        st.dataframe(
            table,
            hide_index=True,
            placeholder=MISSING,
            column_config={
                k: st.column_config.NumberColumn(format="percent")
                for k in ("refused (stage 1)", "analysed with a warning (stage 2)", "previous model: refused")
            },
        )
        st.caption(
            "`python -m core guard-eval`: images nobody trained on. The previous model had a single stage "
            "(colour or feature distance refused). No lateral chest film ships in any package we can install, "
            "so laterals are not measured here."
        )
if not band and not guard:
    st.caption("No input guard or uncertainty band has been fitted for these weights (`python -m core fit-guard`).")

st.header("Where the model looks: lungs, markers, borders")
limits_card = mc.load_limits(service.weights_dir)
lungs_meta = limits_card.get("segmenter")
if lungs_meta:
    test_dice = lungs_meta.get("test", {})
    st.markdown(
        f"Lung fields come from a small U-Net ({lungs_meta.get('parameters', 0):,} parameters) trained on "
        f"lungs224 (V7 Labs masks, CC BY 4.0): Dice **{test_dice.get('mean_dice', float('nan')):.3f}** on "
        f"{test_dice.get('n', 0)} test images (median {test_dice.get('median_dice', float('nan')):.3f})."
    )
test_limits = limits_card.get("test")
if not test_limits:
    st.caption(
        "Explanation metrics on the test images have not been measured for these weights "
        "(`python -m core limits-fit` then `python -m core limits-eval --write`)."
    )
else:
    outside = test_limits["mostly_outside_lungs"]
    cols = st.columns(4)
    cols[0].metric(
        "Heatmap mostly outside the lungs",
        f"{outside['all']:.1%}",
        help=f"Share of the {test_limits['n']} test images with less than {outside['threshold']:.0%} "
        "of the Grad-CAM mass on the lung fields",
    )
    cols[1].metric("… when the model was right", f"{outside['correct']:.1%}" if outside["correct"] is not None else "–")
    cols[2].metric("… when it was wrong", f"{outside['wrong']:.1%}" if outside["wrong"] is not None else "–")
    erasure = test_limits["marker_erasure"]
    cols[3].metric(
        "Mean P change when markers are erased",
        f"{erasure['mean_delta']:+.3f}" if erasure["mean_delta"] is not None else "–",
        help=f"Over the {test_limits['images_with_marker']} test images with a detected marker; "
        f"mean absolute change {erasure['mean_abs_delta'] if erasure['mean_abs_delta'] is not None else '–'}",
    )
    st.dataframe(mc.flag_table(test_limits), hide_index=True, placeholder=MISSING)
    thresholds = limits_card.get("thresholds")
    if thresholds:
        st.caption(
            "Flag thresholds, fitted on the validation split: "
            + "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in thresholds.items())
            + "."
        )

trust_benchmark(trust_summary(service), "card")

st.header("Training data")
for citation in mc.DATA_CITATIONS:
    st.markdown(f"- {citation}")
summary = mc.training_summary(meta)
if summary:
    st.json(summary, expanded=False)

st.header("Limitations")
st.markdown("\n".join(f"- {item}" for item in mc.LIMITATIONS))

with st.expander("Full classifier.json"):
    st.json({k: v for k, v in meta.items() if k != "training"} | {"training": summary})
