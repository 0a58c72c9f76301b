"""Streamlit AppTest of the Case Gallery, teaching sets, demo seeding, Save to library, and a lost database."""

import time

import pytest
from auth_support import logged_in
from db_support import pg_server, small_folder
from streamlit.testing.v1 import AppTest
from viewer_support import download_keys, viewer_charts

from db import repository as repo
from db import teaching
from db.engine import ensure_library, session_scope


@pytest.fixture
def library_env(tmp_path, monkeypatch):
    """A fresh SQLite library for the app, demo seeding off."""
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    return url


def fresh_app() -> AppTest:
    import streamlit as st

    st.cache_resource.clear()
    at = AppTest.from_file("../Home.py", default_timeout=300)
    logged_in(at)  # an instructor: these tests are about the pages, not the login
    at.run()
    return at


def gallery(at: AppTest) -> AppTest:
    return at.switch_page("pages/case_gallery.py").run()


def texts(at: AppTest) -> str:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "subheader")
    return "\n".join(str(e.value) for k in kinds for e in getattr(at, k))


def fill(url, folder, weights_dir=None):
    from core.model_service import ModelService
    from core.services.library_import import import_folder

    return import_folder(ensure_library(url), folder, ModelService(weights_dir) if weights_dir else None)


def test_gallery_with_placeholder_shows_cases_but_never_predictions(
    library_env, use_placeholder, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=1))
    at = gallery(fresh_app())
    assert not at.exception, at.exception
    assert "5 cases match" in texts(at)
    assert "No trained model is installed" in texts(at)
    assert not at.metric and "model NORMAL" not in texts(at) and "model PNEUMONIA" not in texts(at)
    assert at.selectbox(key="f_outcome").disabled and at.slider(key="f_prob").disabled
    at.selectbox(key="f_truth").set_value("Unlabelled").run()
    assert "1 cases match" in texts(at)


def test_filter_open_edit_and_record_ground_truth(library_env, use_trained_weights, kermany_test_dir, tmp_path):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0), use_trained_weights)
    at = gallery(fresh_app())
    assert not at.exception, at.exception
    assert "4 cases match" in texts(at) and "Truth NORMAL · model" in texts(at)
    at.selectbox(key="f_truth").set_value("PNEUMONIA").run()
    assert "2 cases match" in texts(at)
    case_id = int([b.key for b in at.button if b.key and b.key.startswith("open_")][0].split("_")[1])
    at.button(key=f"open_{case_id}").click().run()
    assert not at.exception, at.exception
    assert {m.label for m in at.metric} == {"Model output", "Probability of pneumonia", "Model version"}
    assert len(viewer_charts(at)) == 1 and len(at.image) == 1  # the viewer with the overlay, its colour bar
    assert {f"case_view_{case_id}_png", f"case_view_{case_id}_json"} <= download_keys(at)
    # The report panel works on the stored prediction and keeps its report with the case.
    at.button(key=f"case_report_{case_id}_generate").click().run()
    assert not at.exception, at.exception
    assert "Offline" in str(at.get("badge")) or "Template report" in texts(at)
    with session_scope(ensure_library(library_env)) as s:
        assert repo.stats(s)["reports"] == 1
    at.text_area(key=f"notes_{case_id}").set_value("Look at the right lower zone.").run()
    at.text_input(key=f"tags_{case_id}").set_value("Lobar, classic").run()
    at.button(key=f"save_{case_id}").click().run()
    assert "Notes and tags saved." in texts(at)
    at.selectbox(key=f"truth_{case_id}").set_value("NORMAL").run()
    assert "instructor_name" not in [w.key for w in at.text_input]  # no free-text name: the logged-in user is recorded
    at.button(key=f"truth_save_{case_id}").click().run()
    assert "Ground truth recorded." in texts(at) and "set by tester" in texts(at)
    with session_scope(ensure_library(library_env)) as s:
        case = repo.get_case(s, case_id)
        assert case.notes == "Look at the right lower zone." and [t.tag for t in case.tags] == ["classic", "lobar"]
        assert [(h.old_label, h.new_label, h.changed_by) for h in repo.truth_history(s, case_id)][-1] == (
            "PNEUMONIA",
            "NORMAL",
            "tester",
        )
    at.button(key="case_back").click().run()
    at.selectbox(key="f_truth").set_value("Any").run()
    at.multiselect(key="f_tags").set_value(["lobar"]).run()
    assert "1 cases match" in texts(at)


def test_teaching_sets_from_the_gallery(library_env, use_placeholder, kermany_test_dir, tmp_path):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=2, loose=0))
    at = gallery(fresh_app())
    at.radio(key="gallery_view").set_value("Teaching sets").run()
    at.text_input(key="ts_new_name").set_value("Week 1").run()
    at.text_area(key="ts_new_description").set_value("Normal vs pneumonia").run()
    at.button(key="ts_create").click().run()
    assert not at.exception, at.exception
    assert "Created 'Week 1'." in texts(at)
    at.radio(key="gallery_view").set_value("Cases").run()
    picks = [c.key for c in at.checkbox if c.key and c.key.startswith("pick_")][:3]
    for key in picks:
        at.checkbox(key=key).check()
    at.run()
    at.button(key="grid_add_btn").click().run()
    assert "Added 3 case(s) to the set." in texts(at)
    engine = ensure_library(library_env)
    with session_scope(engine) as s:
        [summary] = teaching.list_sets(s)
        order = teaching.set_case_ids(s, summary.id)
    assert len(order) == 3
    at.radio(key="gallery_view").set_value("Teaching sets").run()
    at.button(key=f"ts_down_{order[0]}").click().run()
    at.button(key=f"ts_publish_{summary.id}").click().run()
    at.button(key=f"ts_export_{summary.id}").click().run()
    assert not at.exception, at.exception
    with session_scope(engine) as s:
        assert teaching.set_case_ids(s, summary.id) == [order[1], order[0], order[2]]
        assert teaching.list_sets(s)[0].published
    assert at.get("download_button"), "no download button for the prepared zip"


@pytest.fixture
def seeding_env(tmp_path, monkeypatch, kermany_test_dir):
    """Demo seeding on, from a folder of 4 kermany224/test images; every job of this process stopped after."""
    from core.services import demo_seed

    monkeypatch.delenv("CXR_SEED_DEMO", raising=False)
    monkeypatch.setenv("CXR_DEMO_DIR", str(small_folder(kermany_test_dir, tmp_path / "demo", per_class=2, loose=0)))
    yield
    demo_seed.stop_all(timeout=60)


def this_process_job(url):
    from core.services import demo_seed

    job = demo_seed.start_demo_seed(url, lambda: pytest.fail("no model needed: it is already started"))
    assert job is not None
    return job


def progress_texts(at_or_block) -> list[str]:
    return [p.text for p in at_or_block.get("progress")]


def test_first_start_seeds_the_demo_library_in_the_background(tmp_path, monkeypatch, use_placeholder, seeding_env):
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    at = gallery(fresh_app())
    assert not at.exception, at.exception
    assert at.selectbox(key="f_truth") and at.expander  # the gallery's own content, not a wait
    job = this_process_job(url)
    assert job.wait(300).state == "done", job.progress().error
    at.run()
    assert not at.exception, at.exception
    assert "4 cases match" in texts(at) and not progress_texts(at)
    with session_scope(ensure_library(url)) as s:
        assert repo.get_meta(s, "demo_seed") == "done"
        assert {c.source for c in s.scalars(__import__("sqlalchemy").select(repo.Case))} == {"demo: kermany224/test"}
    monkeypatch.setenv("CXR_SEED_DEMO", "0")  # opting out later changes nothing either way
    assert "4 cases match" in texts(gallery(fresh_app()))


def hold_the_seed_lease_elsewhere(url, done=40, total=313):
    """Another server process is seeding this library (it holds the lease and publishes its figures)."""
    from db.leases import claim_lease

    with session_scope(ensure_library(url)) as s:
        assert claim_lease(s, "demo_seed", "server:elsewhere", note={"done": done, "total": total, "added": done})


def test_gallery_renders_at_once_with_the_progress_while_another_server_seeds(
    library_env, monkeypatch, use_placeholder, seeding_env, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0))  # 2 cases so far
    hold_the_seed_lease_elsewhere(library_env)
    job = this_process_job(library_env)  # as the server start does (app.py); the first page finds it running
    deadline = time.monotonic() + 60
    while job.progress().state != "waiting" and time.monotonic() < deadline:
        time.sleep(0.05)
    # Home.py's shared sidebar, on a first run (AppTest runs later runs and switched-to pages on their own).
    korean = AppTest.from_file("../Home.py", default_timeout=300)
    logged_in(korean)
    korean.session_state["ui_language"] = "ko"
    assert progress_texts(korean.run().sidebar) == ["데모 증례 추가 중: 40/313"]
    at = fresh_app()
    assert progress_texts(at.sidebar) == ["Adding demo cases: 40/313"]  # the holder's figures, from its lease
    at = gallery(at)
    # Not blocked: the seed cannot finish while the lease is held elsewhere, yet the page is all there.
    assert not at.exception, at.exception
    assert "2 cases match" in texts(at) and at.button(key="demo_seed_refresh") and at.toggle(key="demo_seed_follow")
    assert progress_texts(at.main) == ["Adding demo cases: 40/313"]
    # Cases arrive meanwhile (here: two more, imported directly); Refresh shows them. (AppTest reruns the
    # whole script after a click; the fragment's timed reruns are the browser's.)
    more = tmp_path / "more"
    for label in ("NORMAL", "PNEUMONIA"):
        (more / label).mkdir(parents=True)
        src = sorted((kermany_test_dir / label).glob("*.jpeg"))[5]
        (more / label / src.name).write_bytes(src.read_bytes())
    fill(library_env, more)
    at.button(key="demo_seed_refresh").click().run()
    assert not at.exception, at.exception
    assert "4 cases match" in texts(at) and progress_texts(at.main) == ["Adding demo cases: 40/313"]
    # The other server finishes: this one's job sees it, and the bar goes.
    from db.leases import release_lease

    with session_scope(ensure_library(library_env)) as s:
        repo.set_meta(s, "demo_seed", "done")
        release_lease(s, "demo_seed", "server:elsewhere")
    assert job.wait(60).state == "done" and not job.progress().batches  # it never seeded itself
    at.run()
    assert not at.exception, at.exception
    assert not progress_texts(at) and "4 cases match" in texts(at)
    assert "demo_seed_refresh" not in [b.key for b in at.button]


def test_a_failed_seed_is_shown_and_can_be_retried(pg_server, monkeypatch, use_placeholder, seeding_env):
    url = pg_server.create_database()
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        hold_the_seed_lease_elsewhere(url)
        at = gallery(fresh_app())
        job = this_process_job(url)
        pg_server.stop("fast")  # the database goes away while the job waits for the other server
        try:
            assert job.wait(60).state == "failed"
        finally:
            pg_server.start()
        at.run()
        assert not at.exception, at.exception
        shown = texts(at)
        assert "The demo cases could not be added to the library (" in shown and "try again" in shown
        assert at.button(key="demo_seed_retry_gallery")
        at.button(key="demo_seed_retry_gallery").click().run()
        assert not at.exception, at.exception
        assert job.progress().active  # started again: waiting for the other server, whose lease is still there
        assert "could not be added" not in texts(at)
        assert progress_texts(at.main) in (["Adding demo cases…"], ["Adding demo cases: 40/313"])
    finally:
        pg_server.drop_database(url)


def test_save_to_library_from_analyze_links_repeats(library_env, use_trained_weights, xray_bytes):
    at = fresh_app().switch_page("pages/analyze.py").run()
    at.file_uploader(key="analyze_upload").set_value(("case.jpeg", xray_bytes, "image/jpeg"))
    at.run()
    at.button(key="analyze_save").click().run()
    assert not at.exception, at.exception
    assert "Saved as case #1." in texts(at)
    at.button(key="analyze_save").click().run()
    assert "already in the library as case #1" in texts(at)
    with session_scope(ensure_library(library_env)) as s:
        assert repo.stats(s) == {"cases": 1, "images": 1, "predictions": 1, "reports": 0, "teaching_sets": 0}


def test_lost_database_shows_a_message_and_keeps_unsaved_notes(
    pg_server, monkeypatch, use_placeholder, kermany_test_dir, tmp_path
):
    url = pg_server.create_database()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CXR_SEED_DEMO", "0")
    fill(url, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0))
    try:
        at = gallery(fresh_app())
        case_id = int([b.key for b in at.button if b.key and b.key.startswith("open_")][0].split("_")[1])
        at.button(key=f"open_{case_id}").click().run()
        at.text_area(key=f"notes_{case_id}").set_value("My careful teaching notes").run()
        pg_server.stop("fast")
        try:
            at.button(key=f"save_{case_id}").click().run()
            assert not at.exception, at.exception
            assert "cannot be reached right now" in texts(at)
            assert at.text_area(key=f"notes_{case_id}").value == "My careful teaching notes"
        finally:
            pg_server.start()
        at.button(key=f"save_{case_id}").click().run()
        assert "Notes and tags saved." in texts(at)
        with session_scope(ensure_library(url)) as s:
            assert repo.get_case(s, case_id).notes == "My careful teaching notes"
    finally:
        pg_server.drop_database(url)


def test_instructor_reference_scores_the_report_in_the_case_and_on_its_card(
    library_env, use_trained_weights, kermany_test_dir, tmp_path
):
    fill(library_env, small_folder(kermany_test_dir, tmp_path / "in", per_class=1, loose=0), use_trained_weights)
    at = gallery(fresh_app())
    case_id = int([b.key for b in at.button if b.key and b.key.startswith("open_")][0].split("_")[1])
    at.button(key=f"open_{case_id}").click().run()
    at.button(key=f"case_report_{case_id}_generate").click().run()
    assert not at.exception, at.exception
    with session_scope(ensure_library(library_env)) as s:
        [report] = s.scalars(__import__("sqlalchemy").select(repo.Report)).all()
        content, language = report.content, report.language
    summary = content["sections"]["summary"]

    def metric(label):
        return next((float(m.value) for m in at.metric if m.label == label), None)

    assert metric("ROUGE-L F1 vs reference") is None  # no reference yet: no score
    at.text_area(key=f"reference_{case_id}").set_value(summary).run()
    at.button(key=f"reference_save_{case_id}").click().run()
    assert not at.exception, at.exception
    assert "Reference saved." in texts(at) and "Written by tester" in texts(at)
    close_rouge, close_bleu = metric("ROUGE-L F1 vs reference"), metric("BLEU vs reference")
    assert 0 < close_rouge <= 1 and close_bleu > 0
    assert "not whether either text is correct" in texts(at)

    at.text_area(key=f"reference_{case_id}").set_value("Bananas orbit quietly beneath violet umbrellas.").run()
    at.button(key=f"reference_save_{case_id}").click().run()
    far_rouge = metric("ROUGE-L F1 vs reference")
    assert far_rouge < close_rouge and metric("BLEU vs reference") < close_bleu
    with session_scope(ensure_library(library_env)) as s:
        case = repo.get_case(s, case_id)
        assert (case.reference_text, case.reference_by) == ("Bananas orbit quietly beneath violet umbrellas.", "tester")

    at.text_area(key=f"reference_{case_id}").set_value(summary).run()
    at.button(key=f"reference_save_{case_id}").click().run()
    at.button(key="case_back").click().run()
    assert not at.exception, at.exception
    cards = [c.value for c in at.caption if str(c.value).startswith("ROUGE-L ")]
    from core.reports.scoring import score_report_content

    expected = score_report_content(content, language, summary)
    assert f"{expected.rouge_l_f:.2f}" == f"{close_rouge:.2f}"
    assert cards == [
        f"ROUGE-L {expected.rouge_l_f:.2f} · BLEU {expected.bleu:.0f}"
    ]  # only the case with a reference and a report
