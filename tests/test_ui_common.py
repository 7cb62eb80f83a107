"""The live-run bookkeeping every tab shares (gen_core.ui.common): one run per panel and session, Stop reaching
only its own session, and whether a run is still going (what the step-0 previews check)."""

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
