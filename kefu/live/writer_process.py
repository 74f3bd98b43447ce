"""The message writer's child process (``kefu.live.writer.ProcessMessageWriter``).

It opens the database itself, then commits each batch of messages the parent sends over the pipe with
the same action as the thread writer (``do_send_messages``) and answers with each message's outcome and
the events the commit produced, which the parent publishes. It exits when the pipe ends: when the parent
stops it, and also when the parent is killed (even with SIGKILL), so no writer outlives its server.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from kefu.events.bus import BusHealth, EventBus
from kefu.events.envelope import EventEnvelope

log = logging.getLogger("kefu.live.writer_process")


class CollectingBus(EventBus):
    """Keeps what a commit publishes, for the parent to publish on its own bus."""

    backend = "writer-process"

    def __init__(self) -> None:
        super().__init__()
        self.collected: list[EventEnvelope] = []

    def publish(self, events: Sequence[EventEnvelope]) -> None:
        self.collected.extend(events)

    async def health(self) -> BusHealth:
        return BusHealth(self.backend, True)


def serve(conn: Connection) -> None:
    """Run in the child: open the database whose URL comes first over ``conn``, then answer batches
    until the pipe ends."""
    # The parent ends this process by closing the pipe after its last batch (or by dying: the pipe ends
    # too): Ctrl-C, which the terminal sends to the whole process group, must not cut a commit in half.
    # SIGTERM still ends it; a commit cut short is rolled back and was never acknowledged.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        url = conn.recv_bytes().decode()
    except (EOFError, OSError):
        return
    try:
        from kefu.actions.messages import do_send_messages
        from kefu.db.engine import make_engine
        from kefu.db.session import Database
        from kefu.live.writer import dump_reply, load_requests

        bus = CollectingBus()
        database = Database(make_engine(url, pool_size=1), bus)
        with database.engine.connect():  # fail here, at start, if the database cannot be opened
            pass
    except Exception as exc:
        log.exception("the message writer process could not start")
        conn.send_bytes(f"{type(exc).__name__}: {exc}".encode())
        return
    from kefu.ops.gc_tuning import tune_gc_for_serving

    tune_gc_for_serving()
    conn.send_bytes(b"ready")
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            break
        requests = load_requests(data)
        bus.collected = []
        try:
            with database.session() as db:
                outcomes = do_send_messages(db, requests)
            reply = dump_reply(outcomes, bus.collected)
        except Exception:
            log.exception("committing %d messages failed", len(requests))
            reply = dump_reply(None, [])
        try:
            conn.send_bytes(reply)
        except (BrokenPipeError, OSError):
            break  # the parent is gone; what was committed stays committed
    database.dispose()


if __name__ == "__main__":
    # python -m kefu.live.writer_process FD: FD is this process's end of the socket pair to its parent.
    serve(Connection(int(sys.argv[1])))
