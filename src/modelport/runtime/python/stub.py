"""The stub process of one Python model instance (started by process.py, never by users).

Arguments: the socket's descriptor, then descriptor and size of the region the server writes
(our input) and of the region we write. The main thread runs the server's calls one at a
time (``init``/``autocomplete``, ``execute``, ``finalize``), as Triton's stub does; a reading
thread takes BLS answers and freed blocks as they come, so a model blocked in ``exec()`` or
sending from its own threads is never waiting on the main thread. When the server goes away,
the stub exits at once.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import traceback
from typing import Any

from modelport.runtime.python.host import ModelHost
from modelport.runtime.python.pb_messages import TritonModelException
from modelport.runtime.python.shm import Region
from modelport.runtime.python.wire import Channel

CALLS = ("init", "autocomplete", "execute", "finalize")


def main(argv: list[str]) -> int:
    """Serve the server's calls until ``finalize`` (or one-shot ``autocomplete``)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the server's: it stops us
    sock_fd, in_fd, in_size, out_fd, out_size = (int(a) for a in argv[:5])
    channel = Channel(sock_fd, outgoing=Region(out_fd, out_size),
                      incoming=Region(in_fd, in_size))
    host = ModelHost(channel)
    calls: queue.Queue[tuple[Any, ...]] = queue.Queue()
    threading.Thread(target=_read, args=(channel, host, calls), name="stub-reader",
                     daemon=True).start()
    while True:
        kind, call_id, payload = calls.get()
        try:
            result, error = getattr(host, kind)(payload), None
        except BaseException as exc:  # the model's failure goes back as the call's answer
            host.report(traceback.format_exc())
            result, error = None, (str(exc) if isinstance(exc, TritonModelException)
                                   else f"{type(exc).__name__}: {exc}")
        channel.send(("reply", call_id, result, error))
        if kind in ("finalize", "autocomplete") or (kind == "init" and error is not None):
            break
    _flush()
    return 0


def _read(channel: Channel, host: ModelHost, calls: queue.Queue[tuple[Any, ...]]) -> None:
    try:
        while True:
            message = channel.receive()
            kind = message[0]
            if kind in CALLS:
                calls.put(message)
            elif kind == "bls_reply":
                host.reply(*message[1:])
            elif kind == "free":
                channel.release(message[1])
    except (EOFError, OSError):
        pass
    _flush()
    os._exit(0)  # the server is gone (or done with us): nobody is left to answer


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
