"""Group commit for messages: the hot path of live chat.

A message is acknowledged to its sender only after it is committed. Committing each message in its own
transaction caps throughput at what the database can fsync (and SQLite has one writer at a time), so a
writer gathers what arrived while the previous commit ran and commits the batch at once (as DESIGN.md
asks). Each message in a batch runs in its own SAVEPOINT: one that is refused (conversation ended, not
yours) is answered with its error and does not undo the others. If the commit itself fails, every sender
in the batch gets an error and may resend with the same ``client_msg_id`` (idempotent).

Two writers share the batching (``BatchingWriter``) and differ in where the commit runs:

- ``MessageWriter`` commits on a thread of this process. Simple, and what the in-process tests use; but
  its Python work (building rows and events, binding parameters) holds the GIL against the event loop
  that serves the sockets.
- ``ProcessMessageWriter`` (``kefu serve``'s default, ``KEFU_MESSAGE_WRITER=process``) commits in a child
  process of its own (``kefu.live.writer_process``) and gets back each message's outcome and the events
  to publish here. The event loop keeps this process's GIL; the child runs on the other core.

Our own code because it is the product's core: the batching window and the per-message savepoint are
what make "acknowledged = stored exactly once" fast on both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import queue
import socket
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Literal

from kefu.actions.messages import SendRequest, Stored, do_send_messages
from kefu.db.session import Database, publish_envelopes
from kefu.errors import KefuError, Msg
from kefu.events.envelope import EventEnvelope
from kefu.models.conversation import MessageKind, SenderKind

log = logging.getLogger(__name__)

#: Most messages committed in one transaction.
MAX_BATCH = 256
#: The interpreter's thread switch interval while a writer runs (seconds; see ``BatchingWriter.start``).
SWITCH_INTERVAL = 0.0005
#: How long a writer process may take to start (import kefu, open the database).
PROCESS_START_TIMEOUT = 60.0

Outcome = Stored | KefuError


class WriterUnavailable(KefuError):
    status = 503
    default_code = "storage.unavailable"


def _not_saved() -> WriterUnavailable:
    return WriterUnavailable(Msg("消息未保存，请重发", "the message was not saved; send it again"))


@dataclass
class _Pending:
    request: SendRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Stored] = field(repr=False)


class BatchingWriter(ABC):
    """One thread that takes what was sent, in batches, and commits each batch (``_commit_batch``);
    ``await writer.send(request)`` returns once the message is stored."""

    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH) -> None:
        self._database = database
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def start(self) -> None:
        # A writer thread and the event loop share the GIL. Each database step releases it, and taking it
        # back from a busy event loop waits up to the switch interval (5 ms by default); over the dozens of
        # steps of a commit those waits were the tail of the chat latency. 0.5 ms bounds each one tighter
        # (measured: a batch's slowest commit beside a busy loop fell from 40-350 ms to 20-40 ms).
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="kefu-message-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    async def send(self, request: SendRequest) -> Stored:
        """Store ``request``; returns once it is committed (raises its error if refused)."""
        if self._thread is None or self._stopping:
            raise WriterUnavailable(Msg("服务正在重启，请稍后重发", "the server is restarting; send again shortly"))
        loop = asyncio.get_running_loop()
        pending = _Pending(request, loop, loop.create_future())
        self._queue.put(pending)
        return await pending.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            # Whatever arrived while the last commit ran goes into this one.
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            try:
                outcomes = self._commit_batch([p.request for p in batch])
            except Exception:
                log.exception("committing %d messages failed", len(batch))
                outcomes = [_not_saved()] * len(batch)
            _settle_all(batch, outcomes)

    @abstractmethod
    def _commit_batch(self, requests: list[SendRequest]) -> Sequence[Outcome]:
        """Commit ``requests`` and publish their events; each one's outcome, in order."""


class MessageWriter(BatchingWriter):
    """Commits on its own thread of this process."""

    def _commit_batch(self, requests: list[SendRequest]) -> Sequence[Outcome]:
        with self._database.session() as db:
            return do_send_messages(db, requests)


class ProcessMessageWriter(BatchingWriter):
    """Commits in a child process (``kefu.live.writer_process``); the events come back and are published
    here, after the child's commit, exactly as the thread writer publishes them. If the child dies, the
    batch it had is answered "not saved" (its senders resend; a message the child did commit is then
    recognised by its ``client_msg_id``) and a new child is started for the next batch."""

    def __init__(self, database: Database, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(database, max_batch=max_batch)
        self._url = database.engine.url.render_as_string(hide_password=False)
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    def start(self) -> None:
        if self._process is None:
            self._spawn()
        super().start()

    def stop(self) -> None:
        super().stop()
        self._close_child()

    def _spawn(self) -> None:
        # A fresh interpreter (``python -m kefu.live.writer_process``), not fork: the parent has threads and
        # an event loop that a forked child must not inherit; and not multiprocessing's spawn, which runs the
        # parent's main module again in the child (a script that starts kefu without a main guard would
        # start it twice). The pipe is a socket pair; the database URL goes over it, not on the command
        # line, where any user of the machine could read a password in it.
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "kefu.live.writer_process", str(child_end.fileno())],
                pass_fds=[child_end.fileno()],
                stdin=subprocess.DEVNULL,
            )
        finally:
            child_end.close()
        conn = Connection(parent_end.detach())
        try:
            conn.send_bytes(self._url.encode())
            if not conn.poll(PROCESS_START_TIMEOUT):
                raise RuntimeError("the message writer process did not start")
            hello = conn.recv_bytes()
        except (EOFError, OSError):
            conn.close()
            _end(process)
            raise RuntimeError(f"the message writer process exited at start ({process.returncode})") from None
        except BaseException:
            conn.close()
            _end(process)
            raise
        if hello != b"ready":
            conn.close()
            _end(process)
            raise RuntimeError(f"the message writer process could not open the database: {hello.decode()}")
        self._process, self._conn = process, conn

    def _close_child(self) -> None:
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            conn.close()  # the child sees the end of the pipe after its batch, and exits
        if process is not None:
            _end(process, grace=10)

    def _commit_batch(self, requests: list[SendRequest]) -> Sequence[Outcome]:
        if self._conn is None:
            self._spawn()
        assert self._conn is not None
        try:
            self._conn.send_bytes(dump_requests(requests))
            reply = self._conn.recv_bytes()
        except (EOFError, OSError):
            exitcode = self._process.poll() if self._process is not None else None
            log.error("the message writer process died (exit code %s); starting a new one", exitcode)
            self._close_child()
            return [_not_saved()] * len(requests)
        outcomes, envelopes = load_reply(reply)
        if outcomes is None:  # the child's commit failed (logged there)
            return [_not_saved()] * len(requests)
        publish_envelopes(self._database.bus, envelopes)
        return outcomes


def _end(process: subprocess.Popen[bytes], grace: float = 0) -> None:
    """Wait up to ``grace`` seconds for ``process`` to exit, then kill it; reaped either way."""
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def make_writer(database: Database, kind: Literal["process", "thread"]) -> BatchingWriter:
    """The writer ``KEFU_MESSAGE_WRITER`` asks for; an in-memory SQLite database (which a second process
    cannot open) always gets the thread writer."""
    if kind == "process" and database.engine.url.database not in (None, "", ":memory:"):
        return ProcessMessageWriter(database)
    return MessageWriter(database)


# --- the pipe between the writer and its process ------------------------------------------------------------
# Plain tuples, pickled: frozen slotted dataclasses (the envelopes) and enums pickle through Python-level
# hooks that cost more than the commit's own Python; an exception with keyword-only arguments (KefuError)
# does not unpickle at all.


def dump_requests(requests: Sequence[SendRequest]) -> bytes:
    return pickle.dumps(
        [
            (
                r.conversation_id,
                r.tenant_id,
                r.sender_kind.value,
                r.sender_id,
                r.body,
                r.kind.value,
                r.client_msg_id,
                r.attachment,
                r.meta,
            )
            for r in requests
        ],
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def load_requests(data: bytes) -> list[SendRequest]:
    return [
        SendRequest(cid, tid, SenderKind(sk), sid, body, MessageKind(kind), cmid, attachment, meta)
        for cid, tid, sk, sid, body, kind, cmid, attachment, meta in pickle.loads(data)  # noqa: S301 - our own pipe
    ]


def dump_reply(outcomes: Sequence[Outcome] | None, envelopes: Sequence[EventEnvelope]) -> bytes:
    packed = None
    if outcomes is not None:
        packed = [
            ("error", type(o), o.msg, o.code, o.details)
            if isinstance(o, KefuError)
            else (o.message_id, o.conversation_id, o.seq, o.created_at, o.duplicate, o.client_msg_id)
            for o in outcomes
        ]
    events = [
        (e.id, e.tenant_id, e.type, e.occurred_at, e.actor_id, e.team_id, e.user_id, e.conversation_id, e.payload)
        for e in envelopes
    ]
    return pickle.dumps((packed, events), protocol=pickle.HIGHEST_PROTOCOL)


def load_reply(data: bytes) -> tuple[list[Outcome] | None, list[EventEnvelope]]:
    packed, events = pickle.loads(data)  # noqa: S301 - our own child process, over its own pipe
    outcomes: list[Outcome] | None = None
    if packed is not None:
        outcomes = []
        for o in packed:
            if o[0] == "error":
                _, cls, msg, code, details = o
                error: KefuError = cls.__new__(cls)
                KefuError.__init__(error, msg, code=code, **details)
                outcomes.append(error)
            else:
                outcomes.append(Stored(*o))
    return outcomes, [EventEnvelope(*e) for e in events]


def _settle_all(batch: list[_Pending], outcomes: Sequence[Outcome]) -> None:
    # One wake-up of each event loop per batch, not one per message.
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Stored], Outcome]]] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: its senders are gone
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Stored], Outcome]]) -> None:
    for future, outcome in settled:
        if future.done():  # the sender went away
            continue
        if isinstance(outcome, KefuError):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
