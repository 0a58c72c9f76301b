"""Model-limits figures in the library: storing, the gallery query, reviews, reviewer tags, summaries,
the 0004 → 0005 upgrade and `python -m db limits-stats` — on SQLite and PostgreSQL."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from db_support import cli_env, insert_first_image, library, library_url, pg_server
from limits_support import add_limits_case, add_named_cases, lung_mask, make_limits, pack_mask
from sqlalchemy import event, inspect, select, text

from core.vocabulary import LIMIT_FLAGS, REVIEW_TAGS
from db import limits as lim
from db import repository as repo
from db.codec import encode_image
from db.engine import current_revision, ensure_library, head_revision, make_engine, session_scope, upgrade
from db.errors import LibraryError
from db.models import Case, FlagReview, LimitTag, Prediction, PredictionFlag
from db.operator import OPERATOR

REPO = Path(__file__).resolve().parent.parent
V = "abc123def456"


def build(engine) -> dict[str, int]:
    """Six labelled cases + one unlabelled, chosen so every filter and sort has a known answer."""
    with session_scope(engine) as s:
        ids = add_named_cases(
            s,
            V,
            ["fp_marker", "fn_border", "ok_marker", "ok_clean", "ok_clean2", "fp_clean", "unlabelled"],
            without_figures=["no_limits"],
            marker_deltas={"fp_clean": 0.10},
        )
        ids["other_model"] = add_limits_case(s, "other0000000", 9, "NORMAL", "PNEUMONIA", 0.05, ["heatmap_on_border"])
    return ids


def page_ids(engine, filters=None, sort="lung_share", page=1, per_page=50) -> list[int]:
    with session_scope(engine) as s:
        return [r.case_id for r in lim.limits_page(s, filters or lim.LimitsFilter(), V, sort, page, per_page).rows]


def test_limits_are_stored_with_the_prediction_and_its_flags(library):
    with session_scope(library) as s:
        case_id = add_limits_case(s, V, 1, "NORMAL", "PNEUMONIA", 0.25, ["marker_dependent", "heatmap_on_marker"], -0.3)
    with session_scope(library) as s:
        pred = s.scalars(select(Prediction)).one()
        assert pred.lung_share == pytest.approx(0.25) and pred.limits["counterfactual"][
            "marker_delta"
        ] == pytest.approx(-0.3)
        assert pred.limits["flags"] == ["heatmap_on_marker", "marker_dependent"]  # the order of FLAGS
        assert bytes(pred.lung_mask) == pack_mask(lung_mask(1))
        assert sorted(s.scalars(select(PredictionFlag.flag))) == ["heatmap_on_marker", "marker_dependent"]
        assert repo.predictions_without_limits(s, V) == []
        detail = lim.limits_detail(s, case_id, V)
        assert detail.outcome == "false_positive" and detail.limits["markers"] == [[8, 8, 30, 34]]


def test_numpy_figures_are_stored_as_plain_json_and_bad_figures_are_refused(library):
    img = encode_image(np.full((64, 64), 9, np.uint8))
    record = dict(
        model_version=V,
        probability=0.7,
        label="PNEUMONIA",
        threshold=0.5,
        cam=np.ones((7, 7)),
        cam_target="PNEUMONIA",
        cam_summary={},
    )
    with session_scope(library) as s:
        image, _ = repo.add_image(s, img, "PNG")
        limits = make_limits(0.5)
        limits.update(lung_share=np.float32(0.5), markers=np.array([[1, 2, 3, 4]]))
        pred, _ = repo.add_prediction(s, image.id, repo.PredictionRecord(**record, limits=limits, lung_mask=b"m"))
        pid = pred.id
    with session_scope(library) as s:
        assert s.get(Prediction, pid).limits["markers"] == [[1, 2, 3, 4]]
    for bad, message in (
        (dict(make_limits(0.5), lung_share=1.5), "lung_share"),
        (dict(make_limits(0.5), lung_share=None), "lung_share"),
        (dict(make_limits(0.5), flags=["heatmap_on_elbow"]), "flags"),
        ([0.5], "must be a dict"),
    ):
        with pytest.raises(LibraryError, match=message), session_scope(library) as s:
            repo.set_prediction_limits(s, pid, bad, None)
    with session_scope(library) as s:  # refused writes changed nothing
        assert s.get(Prediction, pid).lung_share == pytest.approx(0.5)


def test_back_fill_predictions_made_before_the_segmenter(library):
    with session_scope(library) as s:
        first = add_limits_case(s, V, 1, "NORMAL", "NORMAL", 0.9, with_limits=False)
        add_limits_case(s, V, 2, "NORMAL", "NORMAL", 0.9, with_limits=False)
        add_limits_case(s, "other0000000", 3, "NORMAL", "NORMAL", 0.9, with_limits=False)
    with session_scope(library) as s:
        pending = repo.predictions_without_limits(s, V)
        assert len(pending) == 2 and repo.count_without_limits(s, V) == 2
        assert pending[0].image_id == repo.get_case(s, first).image_id
        assert s.scalar(text("SELECT count(*) FROM predictions WHERE limits IS NULL")) == 3  # SQL NULL, not JSON null
        repo.set_prediction_limits(s, pending[0].prediction_id, make_limits(0.3, ["heatmap_on_border"]), b"mask")
    with session_scope(library) as s:
        assert [p.prediction_id for p in repo.predictions_without_limits(s, V)] == [pending[1].prediction_id]
        # Recomputing replaces the flags, it does not add to them.
        repo.set_prediction_limits(s, pending[0].prediction_id, make_limits(0.6, ["heatmap_on_marker"]), b"mask2")
    with session_scope(library) as s:
        assert list(s.scalars(select(PredictionFlag.flag))) == ["heatmap_on_marker"]
        assert s.get(Prediction, pending[0].prediction_id).lung_share == pytest.approx(0.6)
    # add_prediction again with figures completes an older prediction that lacked them.
    with session_scope(library) as s:
        image_id = pending[1].image_id
        pred, created = repo.add_prediction(
            s,
            image_id,
            repo.PredictionRecord(
                model_version=V,
                probability=0.1,
                label="NORMAL",
                threshold=0.5,
                cam=np.zeros((7, 7)),
                cam_target="NORMAL",
                cam_summary={},
                limits=make_limits(0.4, ["heatmap_outside_lungs"]),
                lung_mask=b"m",
            ),
        )
        assert not created and pred.lung_share == pytest.approx(0.4)
        assert repo.predictions_without_limits(s, V) == []


def test_gallery_sorts_filters_and_pages(library):
    ids = build(library)
    every = page_ids(library)
    # Most outside the lungs first; no other model, no prediction without figures.
    assert every == [
        ids[k] for k in ("unlabelled", "fp_marker", "fn_border", "ok_marker", "fp_clean", "ok_clean2", "ok_clean")
    ]
    assert page_ids(library, lim.LimitsFilter(flags=["heatmap_on_marker"])) == [ids["fp_marker"], ids["ok_marker"]]
    assert page_ids(library, lim.LimitsFilter(flags=["heatmap_on_marker", "heatmap_on_border"])) == [
        ids["fp_marker"],
        ids["fn_border"],
        ids["ok_marker"],
    ]  # any of
    assert page_ids(library, lim.LimitsFilter(error="false_positive")) == [ids["fp_marker"], ids["fp_clean"]]
    assert page_ids(library, lim.LimitsFilter(error="false_negative")) == [ids["fn_border"]]
    assert page_ids(library, lim.LimitsFilter(error="correct")) == [ids["ok_marker"], ids["ok_clean2"], ids["ok_clean"]]
    assert page_ids(library, lim.LimitsFilter(flags=["heatmap_outside_lungs"], error="false_positive")) == [
        ids["fp_marker"]
    ]
    # Largest |change on marker erasure| first; cases without a marker after, by lung share.
    assert page_ids(library, sort="marker_delta")[:3] == [ids["fp_marker"], ids["fp_clean"], ids["ok_marker"]]
    with session_scope(library) as s:
        second = lim.limits_page(s, lim.LimitsFilter(), V, page=2, per_page=3)
        assert (second.total, second.pages, [r.case_id for r in second.rows]) == (7, 3, every[3:6])
        assert lim.limits_page(s, lim.LimitsFilter(), V, page=99, per_page=3).page == 3  # clamped to the last page
        row = second.rows[0]
        assert row.cam.shape == (7, 7) and row.thumbnail and row.lung_mask == pack_mask(lung_mask(3))
        assert row.outcome == "correct" and row.flags == ["heatmap_on_marker"]
        with pytest.raises(LibraryError, match="Unknown flag"):
            lim.limits_page(s, lim.LimitsFilter(flags=["nope"]), V)
        with pytest.raises(LibraryError, match="Unknown sort"):
            lim.limits_page(s, lim.LimitsFilter(), V, sort="nope")


def test_reviews_latest_wins_history_kept_and_review_state_filters(library):
    ids = build(library)
    with session_scope(library) as s:
        with pytest.raises(LibraryError, match="does not carry the flag"):
            lim.review_flag(s, OPERATOR, ids["ok_clean"], V, "heatmap_on_marker", "confirmed", "rita")
        with pytest.raises(LibraryError, match="Say who reviews"):
            lim.review_flag(s, OPERATOR, ids["fp_marker"], V, "heatmap_on_marker", "confirmed", "  ")
        with pytest.raises(LibraryError, match="verdict"):
            lim.review_flag(s, OPERATOR, ids["fp_marker"], V, "heatmap_on_marker", "maybe", "rita")
    with session_scope(library) as s:
        lim.review_flag(s, OPERATOR, ids["fp_marker"], V, "heatmap_on_marker", "rejected", "rita")
    with session_scope(library) as s:
        lim.review_flag(
            s, OPERATOR, ids["fp_marker"], V, "heatmap_on_marker", "confirmed", "omar"
        )  # a later verdict wins
        lim.review_flag(s, OPERATOR, ids["fn_border"], V, "heatmap_on_border", "rejected", "rita")
    with session_scope(library) as s:
        verdicts = lim.latest_verdicts(s, [ids["fp_marker"], ids["fn_border"], ids["ok_clean"]], V)
        assert {f: (v.verdict, v.reviewer) for f, v in verdicts[ids["fp_marker"]].items()} == {
            "heatmap_on_marker": ("confirmed", "omar")
        }
        assert ids["ok_clean"] not in verdicts
        history = lim.limits_detail(s, ids["fp_marker"], V).history
        assert [(h[0], h[1], h[2]) for h in history] == [
            ("heatmap_on_marker", "confirmed", "omar"),
            ("heatmap_on_marker", "rejected", "rita"),
        ]
        assert lim.review_counts(s, V)["heatmap_on_marker"] == {"confirmed": 1, "rejected": 0}
        assert s.scalar(select(FlagReview.id).where(FlagReview.model_version != V)) is None
    assert page_ids(library, lim.LimitsFilter(review="confirmed")) == [ids["fp_marker"]]
    assert page_ids(library, lim.LimitsFilter(review="rejected")) == [ids["fn_border"]]
    # Unreviewed: carries a flag nobody judged yet (fp_marker still has two, fn_border one).
    assert page_ids(library, lim.LimitsFilter(review="unreviewed")) == [
        ids["unlabelled"],
        ids["fp_marker"],
        ids["fn_border"],
        ids["ok_marker"],
    ]
    # The review state follows the flags filtered on.
    assert page_ids(library, lim.LimitsFilter(flags=["heatmap_on_marker"], review="unreviewed")) == [ids["ok_marker"]]
    assert page_ids(library, lim.LimitsFilter(flags=["heatmap_on_border"], review="confirmed")) == []
    with session_scope(library) as s:  # a deleted case takes its reviews and tags with it
        lim.add_limit_tag(s, OPERATOR, ids["fp_marker"], "R marker", "rita")
        s.delete(s.get(Case, ids["fp_marker"]))
    with session_scope(library) as s:
        assert s.scalar(select(FlagReview.id).where(FlagReview.case_id == ids["fp_marker"])) is None
        assert s.scalar(select(LimitTag.tag).where(LimitTag.case_id == ids["fp_marker"])) is None


def test_reviewer_tags(library):
    ids = build(library)
    with session_scope(library) as s:
        assert lim.add_limit_tag(s, OPERATOR, ids["fn_border"], "border", "rita") is True
        assert lim.add_limit_tag(s, OPERATOR, ids["fn_border"], "border", "omar") is False
        with pytest.raises(LibraryError, match="Unknown tag"):
            lim.add_limit_tag(s, OPERATOR, ids["fn_border"], "elbow", "rita")
        assert lim.set_limit_tags(s, OPERATOR, ids["ok_marker"], ["other", "R marker"], "rita") == ["R marker", "other"]
    with session_scope(library) as s:
        assert lim.set_limit_tags(s, OPERATOR, ids["ok_marker"], ["R marker", "heart"], "omar") == ["R marker", "heart"]
        assert s.get(LimitTag, (ids["ok_marker"], "R marker")).added_by == "rita"  # kept tags keep their author
        assert lim.remove_limit_tag(s, OPERATOR, ids["fn_border"], "rib edge") is False
    assert page_ids(library, lim.LimitsFilter(tags=["R marker"])) == [ids["ok_marker"]]
    assert page_ids(library, lim.LimitsFilter(tags=["border", "heart"])) == [ids["fn_border"], ids["ok_marker"]]
    assert page_ids(library, lim.LimitsFilter(tags=["border"], error="correct")) == []
    with session_scope(library) as s:
        assert lim.remove_limit_tag(s, OPERATOR, ids["fn_border"], "border") is True
        assert lim.limit_tags_for(s, [ids["fn_border"], ids["ok_marker"]]) == {ids["ok_marker"]: ["R marker", "heart"]}


def test_summary_figures(library):
    ids = build(library)
    with session_scope(library) as s:
        shares = {o.case_id: (o.lung_share, o.correct) for o in lim.lung_share_outcomes(s, V)}
        assert set(shares) == {
            ids[k] for k in ("fp_marker", "fn_border", "ok_marker", "ok_clean", "ok_clean2", "fp_clean")
        }
        assert shares[ids["fp_marker"]] == (pytest.approx(0.2), False) and shares[ids["ok_clean"]] == (
            pytest.approx(0.9),
            True,
        )
        assert lim.flag_counts(s, V) == {
            "heatmap_on_marker": 2,
            "heatmap_on_border": 1,
            "heatmap_outside_lungs": 3,
            "marker_dependent": 1,
        }
        errors = {k: (e.cases, e.wrong) for k, e in lim.error_rate_by_flag(s, V).items()}
        assert errors == {
            "heatmap_on_marker": (2, 1),
            "heatmap_on_border": (1, 1),
            "heatmap_outside_lungs": (2, 2),
            "marker_dependent": (1, 1),
            lim.NO_FLAG: (3, 1),
        }
        summary = lim.limits_summary(s, V)
        assert summary["lung_share"]["correct"] == {"cases": 3, "mean": pytest.approx((0.55 + 0.9 + 0.8) / 3)}
        assert summary["lung_share"]["wrong"] == {"cases": 3, "mean": pytest.approx((0.2 + 0.35 + 0.7) / 3)}
        assert (summary["predictions_with_limits"], summary["predictions_without_limits"]) == (7, 1)
        assert lim.versions_with_limits(s) == [(V, 7), ("other0000000", 1)]
        assert lim.flag_counts(s, "unknown") == dict.fromkeys(LIMIT_FLAGS, 0)


def test_gallery_and_summaries_take_a_fixed_number_of_queries(library):
    build(library)
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(library, "before_cursor_execute", count)
    try:
        seen = []
        for per_page in (2, 7):
            statements.clear()
            with session_scope(library) as s:
                lim.limits_page(s, lim.LimitsFilter(), V, per_page=per_page)
                lim.lung_share_outcomes(s, V)
                lim.flag_counts(s, V)
                lim.error_rate_by_flag(s, V)
            seen.append(len(statements))
    finally:
        event.remove(library, "before_cursor_execute", count)
    assert seen[0] == seen[1] <= 10, seen  # no query per case


def test_upgrade_from_0004_keeps_predictions_and_adds_the_limits_tables(library_url):
    engine = make_engine(library_url)
    upgrade(engine, "0004")
    with engine.begin() as conn:  # rows as revision 0004 wrote them, with plain SQL
        insert_first_image(conn)
        conn.execute(
            text(
                "INSERT INTO cases (id, image_id, title, source, truth_label, notes, revision, created_at, updated_at) "
                "VALUES (1, 1, 'old case', 'test', 'NORMAL', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO predictions (id, image_id, model_version, probability, label, threshold, cam, "
                "cam_height, cam_width, cam_target, cam_summary, created_at) VALUES (1, 1, :v, 0.9, 'PNEUMONIA', 0.5, "
                ":cam, 1, 1, 'PNEUMONIA', '{}', CURRENT_TIMESTAMP)"
            ),
            {"v": V, "cam": repo.pack_cam(np.ones((1, 1)))},
        )
    ensure_library(library_url)
    assert current_revision(engine) == head_revision()
    assert {"limits", "lung_share", "lung_mask"} <= {c["name"] for c in inspect(engine).get_columns("predictions")}
    assert {"prediction_flags", "flag_reviews", "limit_tags"} <= set(inspect(engine).get_table_names())
    with session_scope(engine) as s:
        pred = s.get(Prediction, 1)
        assert (pred.probability, pred.label, pred.limits, pred.lung_share, pred.lung_mask) == (
            0.9,
            "PNEUMONIA",
            None,
            None,
            None,
        )
        assert repo.predictions_without_limits(s, V) == [(1, 1)]
        repo.set_prediction_limits(s, 1, make_limits(0.2, ["heatmap_outside_lungs"]), b"mask")
        lim.review_flag(s, OPERATOR, 1, V, "heatmap_outside_lungs", "confirmed", "rita")
        lim.add_limit_tag(s, OPERATOR, 1, "border", "rita")
    with session_scope(engine) as s:
        assert page_ids(engine) == [1]
        assert lim.limits_page(s, lim.LimitsFilter(review="confirmed", tags=["border"]), V).total == 1


def test_limits_stats_cli(library, library_url, cli_env):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "db", "limits-stats", *args],
            cwd=REPO,
            env=cli_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    empty = run()
    assert (
        empty.returncode == 2
        and empty.stderr.strip() == "error: no prediction carries limits figures yet; run `python -m db limits` first"
    )
    build(library)
    done = run("--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["model_version"] == V and figures["flag_counts"]["heatmap_outside_lungs"] == 3
    assert figures["error_rate_by_flag"]["heatmap_on_marker"] == {"cases": 2, "wrong": 1, "error_rate": 0.5}
    assert figures["lung_share"]["wrong"]["cases"] == 3
    plain = run()
    assert plain.returncode == 0 and "heatmap_on_border: 100.0% (1 wrong of 1)" in plain.stdout
    assert "correct: 0.750 over 3 cases" in plain.stdout
    other = run("--model-version", "nobody")
    assert other.returncode == 2 and "no prediction of model nobody" in other.stderr
