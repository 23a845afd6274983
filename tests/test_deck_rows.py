"""The deck's rows never show a session's new status in its old place."""
import asyncio
import time

from agentdeck.deck.app import DeckApp
from tests.support import short_tmpdir, until


def entry(id_, status, since):
    return {"id": id_, "title": id_, "path": f"/src/{id_}", "tool": "claude", "status": status, "since": since,
            "tmux_session": f"ad-{id_}"}


def test_a_clock_tick_between_an_event_and_the_redraw_keeps_status_and_order_together():
    """Regression: the clock's tick redrew a row's cells from the model while the sync that
    re-sorts the rows was still pending, so a session that had just begun to wait showed
    'waiting' below a running one (the pilot test saw it in CI)."""
    now = time.time()
    app = DeckApp(short_tmpdir())
    app.live = lambda: None  # events are fed by hand: no stream, and no registry read to race with

    async def main():
        async with app.run_test(size=(120, 20)) as pilot:
            app._event(1, "snapshot", {"sessions": [entry("first", "waiting", now - 60), entry("busy", "running", now - 50),
                                                    entry("later", "idle", now - 40)]})
            # The rows are drawn by a timer: on a loaded machine it may fire well after SYNC_DELAY.
            await until(pilot, lambda: app.table.order, "the snapshot's rows")
            assert app.table.order == ["first", "busy", "later"]
            app._event(1, "session", entry("later", "waiting", now))
            app._tick()  # the clock fires before the pending sync
            shown = [app.table.shown[i][3] for i in app.table.order]
            assert shown == sorted(shown, key=["waiting", "running", "idle", "dead"].index), \
                list(zip(app.table.order, shown))
            await until(pilot, lambda: not app._sync_pending, "the pending sync")
            assert app.table.order == ["first", "later", "busy"]
    asyncio.run(asyncio.wait_for(main(), 60))
