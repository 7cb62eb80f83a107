"""The live-run bookkeeping every tab shares (gen_core.ui.common): one run per panel and session, Stop reaching
only its own session, whether a run is still going (what the step-0 previews check), and the downloads of finished
runs."""

from __future__ import annotations

from gen_core.ui.common import register_run, run_is_going, stop_run


def test_a_new_run_stops_the_sessions_previous_one_only():
    mine, theirs = {}, {}
    first = register_run(mine, "panel")
    other = register_run(theirs, "panel")
    second = register_run(mine, "panel")          # same panel, same session: the first run is told to stop
    assert first.is_set() and not second.is_set() and not other.is_set()
    stop_run(mine, "panel")
    assert second.is_set() and not other.is_set()  # Stop reaches this session's run, not another session's
    stop_run({}, "panel")                          # nothing registered: nothing to do, no error
    stop_run(None, "panel")


def test_run_is_going_until_its_event_is_set():
    session: dict = {}
    assert not run_is_going(session, "panel") and not run_is_going(None, "panel")
    event = register_run(session, "panel")
    assert run_is_going(session, "panel") and not run_is_going(session, "other panel")
    event.set()                                    # the run ended (or was stopped)
    assert not run_is_going(session, "panel")
    session["panel"] = "not an event"              # anything else under the key is not a run
    assert not run_is_going(session, "panel")


def test_offer_download_shows_the_file_and_keeps_only_the_newest_exports(tmp_path, monkeypatch):
    import gen_core.ui.common as common
    monkeypatch.setattr(common, "_exports", common.deque())
    archives = []
    for i in range(4):
        folder = tmp_path / f"export-{i}"
        folder.mkdir()
        archives.append(folder / "m.zip")
        archives[-1].write_bytes(b"zip")
        update = common.offer_download(archives[-1], keep=2)
        assert update.constructor_args == {"value": str(archives[-1]), "visible": True}
    assert [a.exists() for a in archives] == [False, False, True, True]     # the two oldest folders are gone
    assert common.hide_download().constructor_args == {"value": None, "visible": False}
