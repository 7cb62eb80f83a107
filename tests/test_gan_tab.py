"""The GAN Lab tab: its figures validate against plotly's schema, every public endpoint through gradio_client
(good and bad values), and a real browser that starts training, sees the plots and the modes counter move, and
stops it."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import gradio as gr
import plotly.graph_objects as go
import pytest
from gradio_client.exceptions import AppError

from conftest import ARTIFACTS
from gen_core.hub import read_card_metadata
from gen_core.metrics.modes import mode_report
from gen_core.models import load_pretrained
from gen_core.ui.gan import GANLab, LiveRun, LiveSettings, one_thread
from gen_core.viz.gan import gan_curves, snapshot_timeline
from tests.conftest import is_hidden_download, unpack_download


# -- in-process: the live run and its figures ----------------------------------------------------------------------


@pytest.fixture(autouse=False)
def single_thread():
    with one_thread():
        yield


def test_live_run_records_curves_snapshots_and_valid_figures(single_thread):
    run = LiveRun(LiveSettings(target="grid", steps=120, hidden=32, depth=2), chunk=10)
    while not run.done:
        run.advance(0.0, until_step=run.step + 30)
    h = run.history
    assert h.steps[-1] == 120 and len(h.d_loss) == 12 and h.eval_steps[-1] == 120
    assert run.report.n_modes == 25 and 0 <= run.report.modes <= 25
    assert run.snapshots and run.snapshots[-1].step == 120
    figs = [run.panels("t"), gan_curves({"A": h, "B": h}, 25), snapshot_timeline(run.snapshots, run.centres.numpy(),
                                                                                  run.target.bounds),
            snapshot_timeline([], run.centres.numpy(), run.target.bounds)]
    lab = GANLab()
    figs += [lab.optimal_d(0.0, 1.0, 1.0, 2.0)[0], lab.generator_losses()]
    for fig in figs:
        go.Figure(json.loads(fig.to_json()))     # plotly's full validation of what the browser receives


def test_timeline_snapshots_are_spread_over_the_run(single_thread):
    # an evaluation every 10 steps, modes flickering between them: the 8 snapshots kept still span the whole run
    # (the first evaluation to the last step), not just its last steps
    run = LiveRun(LiveSettings(target="grid", steps=640, hidden=32, depth=2), chunk=10)
    while not run.done:
        run.advance(0.0, until_step=run.step + 10)
    steps = [s.step for s in run.snapshots]
    assert len(steps) == 8 and steps == sorted(steps)
    assert steps[0] == 10 and steps[-1] == 640, steps


def test_same_seed_same_start_and_data(single_thread):
    a = LiveRun(LiveSettings(loss="non_saturating", steps=40, hidden=16, depth=1))
    b = LiveRun(LiveSettings(loss="lsgan", steps=40, hidden=16, depth=1))
    assert all(np.array_equal(p.detach(), q.detach()) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert np.array_equal(a.source.next_batch(), b.source.next_batch())


def _drain(lab: GANLab, session: dict, poll, timeout: float = 120.0) -> list:
    """Pull frames as the page's timer does until the timer is switched off; returns the last frame."""
    deadline = time.time() + timeout
    out = poll(session)
    while out[-1].constructor_args.get("active", True) and time.time() < deadline:
        time.sleep(0.05)
        out = poll(session)
    assert time.time() < deadline, "the run did not end"
    return out


def test_background_run_is_pulled_frame_by_frame_and_ends():
    lab, session = GANLab(), {}
    first = lab.start_live("grid", "lsgan", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", 0, 300, session=session)
    assert first[-1].constructor_args["active"] is True and "step" in first[3]
    driver = session["live"]
    seen = []
    out = lab.poll_live(session)
    while out[-1].constructor_args["active"]:
        seen.append(driver.runs[0].view_step)
        time.sleep(0.05)
        out = lab.poll_live(session)
    live, curves, timeline, status, counter, download, timer = out
    assert status.startswith("Done: 300 steps"), status
    assert is_hidden_download(first[5])                           # a previous run's download hidden
    # the last frame offers the trained GAN; unzipped, it loads and scores what the counter showed
    folder = unpack_download(download, "gan-grid-lsgan-live")
    gan = load_pretrained(folder)
    assert gan.config.target == "grid" and gan.config.loss == "lsgan" and gan.config.hidden == 32
    report = mode_report(gan.generate(driver.runs[0].eval_z), driver.runs[0].centres, driver.runs[0].target.std)
    card = read_card_metadata(folder)
    assert card["gen_core_metrics"]["modes"] == report.modes and f"Modes captured: {report.modes} / 25" in counter
    assert card["gen_core_training"]["steps"] == 300 and card["gen_core_training"]["seed"] == 0
    assert "step 300" in counter and "live" not in session      # the finished run is dropped from the session
    assert seen == sorted(seen)                                  # frames follow the training forward
    h = driver.runs[0].history
    assert h.steps[-1] == 300 and h.eval_steps[-1] == 300         # the last frame shows the last step
    for fig in (live, curves, timeline):
        go.Figure(json.loads(fig.to_json()))
    # nothing running: a tick changes nothing and keeps the timer off
    assert lab.poll_live(session)[-1].constructor_args["active"] is False
    driver.join()


def test_preview_shows_step_0_of_the_configured_run_and_leaves_a_running_one_alone():
    lab, session = GANLab(), {}
    panels, curves, timeline, status, counter = lab.preview("grid", "lsgan", "alternating", 1, 1e-3, 1e-3, 32, 2,
                                                            "none", 3, 500, session=session)
    # a finished run's curves and timeline are replaced by empty ones with its panels
    assert all(t.x is None or len(t.x) == 0 for t in curves.data) and "Timeline" in timeline.layout.title.text
    assert list(curves.layout.xaxis.range) == list(curves.layout.xaxis2.range) == [-10, 500]   # the run's span
    for fig in (curves, timeline):
        go.Figure(json.loads(fig.to_json()))
    go.Figure(json.loads(panels.to_json()))
    assert status.startswith("Step 0 of 500") and "seed 3" in status
    assert re.search(r"Modes captured: \d+ / 25\*\* .* step 0$", counter), counter
    # the same generator a run of these settings starts from: its first frame before any step
    run = LiveRun(LiveSettings(target="grid", loss="lsgan", hidden=32, depth=2, seed=3, steps=500))
    assert counter == run.counter()
    # a half-typed value is skipped quietly (Start names it), and so is a change while this session trains
    skipped = lab.preview("grid", "lsgan", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", -1, 500, session=session)
    assert all(isinstance(x, type(gr.skip())) for x in skipped)
    lab.start_live("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", 0, 20_000, session=session)
    skipped = lab.preview("grid", "lsgan", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", 0, 500, session=session)
    assert all(isinstance(x, type(gr.skip())) for x in skipped)
    lab.stop(session)
    _drain(lab, session, lab.poll_live)


def test_ab_preview_shows_both_configurations_at_step_0():
    lab, session = GANLab(), {}
    ab = ("ring", 2, 400, 32, 2, "non_saturating", "alternating", 1, 1e-3, 1e-3, "none",
          "hinge", "alternating", 1, 1e-3, 1e-3, "none")
    a, b, curves, status = lab.preview_ab(*ab, session=session)
    assert status.startswith("Step 0 of 400") and "seed 2" in status
    assert a.layout.title.text.startswith("A: non_saturating") and b.layout.title.text.startswith("B: hinge")
    # the same untrained generator: identical generated points in both panels
    fakes = [next(t for t in fig.data if t.name == "generated") for fig in (a, b)]
    assert np.array_equal(np.asarray(fakes[0].x), np.asarray(fakes[1].x))
    for fig in (a, b, curves):
        go.Figure(json.loads(fig.to_json()))
    bad = ab[:5] + ("no such loss",) + ab[6:]
    assert all(isinstance(x, type(gr.skip())) for x in lab.preview_ab(*bad, session=session))
    lab.start_ab(*ab[:2], 20_000, *ab[3:], session=session)
    assert all(isinstance(x, type(gr.skip())) for x in lab.preview_ab(*ab, session=session))
    lab.stop_ab(session)
    _drain(lab, session, lab.poll_ab)


def test_stop_and_restart_end_the_previous_background_run():
    lab, session = GANLab(), {}
    lab.start_live("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", 0, 20_000, session=session)
    first = session["live"]
    lab.start_live("ring", "hinge", "alternating", 1, 1e-3, 1e-3, 32, 2, "none", 1, 20_000, session=session)
    assert first.done and first.runs[0].stopped                  # Start again replaced this session's run
    lab.stop(session)
    out = _drain(lab, session, lab.poll_live)
    assert out[3].startswith("**Stopped** at step"), out[3]
    assert int(re.search(r"step (\d+)", out[4]).group(1)) < 20_000


def test_at_most_max_live_runs_at_once(monkeypatch):
    import gen_core.ui.gan as gan_ui

    monkeypatch.setattr(gan_ui, "_SLOTS", __import__("threading").BoundedSemaphore(1))
    lab, me, other = GANLab(), {}, {}
    lab.start_live("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 16, 1, "none", 0, 20_000, session=me)
    with pytest.raises(gr.Error, match="already running on this machine"):
        lab.start_live("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 16, 1, "none", 0, 20_000, session=other)
    lab.stop(me)
    _drain(lab, me, lab.poll_live)
    me_driver_done = lab.start_live("ring", "lsgan", "alternating", 1, 1e-3, 1e-3, 16, 1, "none", 0, 100,
                                    session=other)              # the slot is free again
    assert me_driver_done[3]
    _drain(lab, other, lab.poll_live)


def test_a_run_nobody_watches_stops_itself(monkeypatch):
    import gen_core.ui.gan as gan_ui

    monkeypatch.setattr(gan_ui, "ORPHAN_S", 0.5)
    lab, session = GANLab(), {}
    lab.start_live("ring", "non_saturating", "alternating", 1, 1e-3, 1e-3, 16, 1, "none", 0, 20_000, session=session)
    driver = session["live"]
    driver.join(timeout=30)
    assert driver.done and driver.runs[0].stopped
    status = lab.poll_live(session)[3]
    assert "asked for no update" in status, status


def test_ab_background_runs_stay_in_step():
    lab, session = GANLab(), {}
    a = ["non_saturating", "alternating", 1, 1e-3, 1e-3, "none"]
    b = ["wgan_gp", "n_critic", 2, 1e-3, 1e-3, "spectral"]
    first = lab.start_ab("grid", 0, 120, 32, 2, *a, *b, session=session)
    assert first[-1].constructor_args["active"] is True
    assert all(is_hidden_download(d) for d in first[4:6])         # the previous pair's
    driver = session["ab"]
    out = _drain(lab, session, lab.poll_ab)
    status = out[3]
    assert status.startswith("Done in") and "step 120/120" in status, status
    assert status.count("step 120") >= 3                          # the header, A's counter and B's counter
    # the last frame offers both trained GANs; each loads as its own configuration and scores its counter's modes
    for button, run, tag in zip(out[4:6], driver.runs, "AB"):
        s = run.settings
        folder = unpack_download(button, f"gan-grid-{s.loss}-{tag}-live")
        gan = load_pretrained(folder)
        assert (gan.config.loss, gan.config.normalization) == (s.loss, s.normalization)
        report = mode_report(gan.generate(run.eval_z), run.centres, run.target.std)
        assert read_card_metadata(folder)["gen_core_metrics"]["modes"] == report.modes
        assert f"{tag}: Modes captured: {report.modes} / 25" in status


def test_history_copy_is_cut_to_equal_lengths():
    from gen_core.viz.gan import GANHistory

    h = GANHistory(steps=[10, 20, 30], d_loss=[1.0, 2.0], g_loss=[1.0, 2.0, 3.0], eval_steps=[10], modes=[3, 4],
                   high_quality_pct=[50.0, 60.0])
    c = h.consistent()
    assert (c.steps, c.d_loss, c.g_loss) == ([10, 20], [1.0, 2.0], [1.0, 2.0])
    assert (c.eval_steps, c.modes, c.high_quality_pct) == ([10], [3], [50.0])


# -- the API of the running app ---------------------------------------------------------------------------------------


def plot_json(value) -> dict:
    plot = value["plot"] if isinstance(value, dict) else value
    return json.loads(plot) if isinstance(plot, str) else plot


def test_api_lists_the_gan_endpoints(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/gan_train_live", "/gan_train_ab", "/gan_show_pretrained", "/gan_optimal_d", "/gan_generator_losses"} <= names


def test_optimal_d_endpoint_shows_the_identity(client):
    fig, text = client.predict(0.0, 1.0, 1.5, 0.7, api_name="/gan_optimal_d")
    numbers = [float(x) for x in re.findall(r"\*\*(-?[0-9.]+)\*\*", text)]
    jsd, value, from_jsd = numbers
    assert abs(value - from_jsd) < 1e-6 and 0 < jsd < np.log(2)
    assert [t["name"] for t in plot_json(fig)["data"]] == ["p_data", "p_g", "D*(x)"]
    assert len(plot_json(client.predict(api_name="/gan_generator_losses"))["data"]) == 4


@pytest.mark.parametrize("args, message", [
    ((0.0, 0.0, 1.5, 0.7), "less than minimum value 0.1"),
    ((0.0, 1.0, "far", 0.7), "p_g mean must be a number"),
])
def test_optimal_d_rejects_bad_values(client, args, message):
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name="/gan_optimal_d")


GOOD = dict(target="ring", loss="non_saturating", scheme="alternating", n_critic=1, lr_g=1e-3, lr_d=1e-3, width=32,
            depth=2, normalization="none", seed=0, steps=60)


@pytest.mark.parametrize("field, value, message", [
    ("loss", "vanilla", "vanilla is not in the list of choices"),
    ("target", "moon", "'moon'.*is not in the list of choices"),
    ("lr_g", 1.0, "greater than maximum value 0.01"),
    ("steps", 10, "less than minimum value 50"),
    ("n_critic", 2.5, "n_critic must be a whole number"),
    ("width", "wide", "must be a number"),
])
def test_train_live_rejects_bad_values(client, field, value, message):
    args = {**GOOD, field: value}
    with pytest.raises(AppError, match=message):
        client.predict(*args.values(), api_name="/gan_train_live")


def test_train_live_streams_and_finishes(client):
    # Enough steps that the run outlasts the tab's update interval on a fast machine (60 steps finish in one update).
    job = client.submit(*{**GOOD, "steps": 3000}.values(), api_name="/gan_train_live")
    outputs = job.result(timeout=180)
    live, curves, timeline, status, counter, download = outputs
    assert status.startswith("Done: 3000 steps"), status
    assert download["visible"] and download["value"].endswith("gan-ring-non_saturating-live.zip")
    assert re.search(r"Modes captured: \d / 8", counter)
    assert len(plot_json(curves)["data"]) == 4 and plot_json(live)["data"]
    assert len(job.outputs()) >= 2      # it streamed before finishing


def test_stop_ends_the_run_with_its_final_state(app_url):
    # A client of its own: Stop reaches the run of the same session (the client's session hash), and only that one.
    from gradio_client import Client

    me, other = Client(app_url, verbose=False), Client(app_url, verbose=False)
    job = me.submit(*{**GOOD, "steps": 20_000}.values(), api_name="/gan_train_live")
    deadline = time.time() + 400      # a busy shared CPU can take minutes for the first two updates
    while len(job.outputs()) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(job.outputs()) >= 2, "the run did not stream"
    other.predict(api_name="/gan_stop")            # another session's Stop does nothing here
    time.sleep(1.0)
    assert not job.done()
    me.predict(api_name="/gan_stop")
    live, curves, timeline, status, counter, download = job.result(timeout=300)
    assert status.startswith("**Stopped** at step"), status
    assert download["visible"]                                   # a stopped run can be taken away too
    assert int(re.search(r"step (\d+)", counter).group(1)) < 20_000


def test_train_ab_and_its_bad_values(client):
    a = ["non_saturating", "alternating", 1, 1e-3, 1e-3, "none"]
    b = ["wgan_gp", "n_critic", 2, 1e-3, 1e-3, "spectral"]
    live_a, live_b, curves, status, download_a, download_b = client.predict("grid", 0, 60, 32, 2, *a, *b,
                                                                          api_name="/gan_train_ab")
    assert download_a["value"].endswith("gan-grid-non_saturating-A-live.zip")
    assert download_b["value"].endswith("gan-grid-wgan_gp-B-live.zip")
    assert status.startswith("Done") and "A: Modes captured" in status and "B: Modes captured" in status
    names = [t["name"] for t in plot_json(curves)["data"]]
    assert "A: D loss" in names and "B: modes" in names
    with pytest.raises(AppError, match="A/B: n_critic must be a whole number"):
        client.predict("grid", 0, 60, 32, 2, *a, "wgan_gp", "n_critic", 2.5, 1e-3, 1e-3, "none", api_name="/gan_train_ab")


def test_show_pretrained(client):
    names = GANLab().pretrained
    if not names:
        pytest.skip("no pretrained 2-D GANs in pretrained/")
    fig, text = client.predict(names[0], 0, api_name="/gan_show_pretrained")
    assert re.search(r"\*\*\d+ / \d+ modes\*\*", text) and plot_json(fig)["data"]
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("gan-none", 0, api_name="/gan_show_pretrained")


# -- a real browser -----------------------------------------------------------------------------------------------------


def test_browser_training_updates_and_stops(page):
    # The page pulls frames (a gr.Timer whose tick waits for the last frame to be drawn), so however slowly this
    # machine draws, the page never falls behind the run and Stop is answered at once. Generous timeouts for a loaded
    # CI machine all the same.
    def wait_js(expr: str, arg=None, timeout: int = 120_000):
        return page.wait_for_function(expr, arg=arg, timeout=timeout, polling=500)

    def text(elem_id: str) -> str:
        return page.evaluate(f"() => document.querySelector('#{elem_id}')?.innerText ?? ''")

    page.set_default_timeout(120_000)
    page.get_by_role("tab", name="GAN Lab").click()
    # before Start: step 0 of the default run (ring, seed 0), drawn
    assert "Press Start training" in text("gan-status") and text("gan-modes").endswith("step 0")
    assert "Press Start A/B" in text("gan-ab-status")                       # and step 0 of the A/B pair
    wait_js("() => !!document.querySelector('#gan-live .js-plotly-plot .scatterlayer')")
    steps = page.locator("#gan-steps input[type=number]")
    steps.fill(str(20_000))             # long enough that it is still running when we look
    steps.press("Enter")
    page.locator("#gan-start").click()
    wait_js("() => /steps\\/s/.test(document.querySelector('#gan-status')?.innerText ?? '')")   # the run's frames
    wait_js("() => !!document.querySelector('#gan-live .js-plotly-plot .scatterlayer')")       # drawn
    first = text("gan-modes")
    scatter = "(document.querySelector('#gan-live .scatterlayer')?.innerHTML ?? '')"
    drawn = page.evaluate(f"() => {scatter}")
    # the modes counter moves with the steps and the scatter is redrawn
    wait_js(f"([t, d]) => (document.querySelector('#gan-modes')?.innerText ?? t) !== t && {scatter} !== d",
            arg=[first, drawn])
    step = lambda t: int(re.search(r"step (\d+)", t).group(1))  # noqa: E731
    assert step(text("gan-modes")) > step(first)
    assert "steps/s" in text("gan-status")
    t_stop = time.time()
    page.locator("#gan-stop").click()
    # Stop is cooperative: the run sends its final state ("Stopped at step N") and ends
    wait_js("() => /Stopped/.test(document.querySelector('#gan-status')?.innerText ?? '')", timeout=30_000)
    assert time.time() - t_stop < 30, "Stop took too long to show"
    stopped = text("gan-modes")
    assert re.search(r"Modes captured: \d+ / 8", stopped), stopped
    assert step(stopped) < 20_000 and "Done" not in text("gan-status")
    page.wait_for_timeout(3000)
    assert text("gan-modes") == stopped, "training kept streaming after Stop"
    assert not page.locator("#gan-live .error, #gan-modes .error").count()
    page.locator("#gan-live").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "gan_lab_stopped.png"), full_page=False, timeout=60_000)
