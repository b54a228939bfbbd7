"""One stub process seen from the server: start it, call it, hear from it, stop it.

A reading thread takes every message the stub sends: replies complete the call waiting for
them, anything else (decoupled responses, BLS requests) goes to ``on_message``; log lines go to
the server's log.
When the stub dies, the reading thread sees the socket close, fails the calls still waiting
and tells ``on_exit`` how the process ended.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from modelport.runtime.python.shm import DEFAULT_REGION_BYTES, Region, create_fd
from modelport.runtime.python.wire import Channel

log = logging.getLogger("modelport.python")

# The stub's first lines: the model's own packages (EXECUTION_ENV_PATH) go first on sys.path,
# their .pth files included, before anything imports numpy; the working folder is left out.
BOOT = """
import os, site, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
before = list(sys.path)
for folder in filter(None, sys.argv[1].split(os.pathsep)):
    site.addsitedir(folder)
sys.path[:] = [p for p in sys.path if p not in before] + before
from modelport.runtime.python.stub import main
sys.exit(main(sys.argv[2:]))
"""
_LOG_LEVELS = (logging.INFO, logging.WARNING, logging.ERROR, logging.DEBUG)


class StubGone(Exception):
    """The stub process ended (the message says how)."""


class StubTimedOut(Exception):
    """A call got no answer in time."""


class StubFailed(Exception):
    """The model raised in a call (the message is its error)."""


class StubProcess:
    """A started stub and its connection."""

    def __init__(self, label: str, site_dirs: Sequence[str],
                 on_message: Callable[[StubProcess, tuple[Any, ...]], None],
                 on_exit: Callable[[str], None],
                 region_bytes: int = DEFAULT_REGION_BYTES) -> None:
        self.label = label
        self.on_message, self.on_exit = on_message, on_exit
        self.ended: str | None = None  # how the process ended, once it has
        self._stopped = False
        self._calls: dict[int, Future[tuple[Any, str | None]]] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()
        to_stub = Region(create_fd(region_bytes, f"modelport-{label}-in"), region_bytes)
        from_stub = Region(create_fd(region_bytes, f"modelport-{label}-out"), region_bytes)
        ours, theirs = socket.socketpair()
        # unbuffered: what model.py prints reaches the server's output at once, even when
        # the stub then crashes; on stderr, with the server's log, so that it never mixes
        # into what a command prints on stdout (`modelport run --json`)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        fds = (theirs.fileno(), to_stub.fd, to_stub.size, from_stub.fd, from_stub.size)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", BOOT, os.pathsep.join(site_dirs), *(str(n) for n in fds)],
                pass_fds=(theirs.fileno(), to_stub.fd, from_stub.fd), env=env,
                stdin=subprocess.DEVNULL, stdout=_stderr_fd())
        except OSError:
            ours.close()
            to_stub.close()
            from_stub.close()
            raise
        finally:
            theirs.close()
        self.channel = Channel(ours.detach(), outgoing=to_stub, incoming=from_stub)
        self._reader = threading.Thread(target=self._read, name=f"mp-stub-{label}",
                                        daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        """Whether the process still runs and answers."""
        return self.ended is None and self.proc.poll() is None

    def call(self, kind: str, payload: Any, timeout_s: float | None) -> Any:
        """Send a call and wait for its reply's payload.

        Raises:
            StubFailed: the model raised; StubGone: the process ended first;
            StubTimedOut: no answer within ``timeout_s``.
        """
        call_id = next(self._ids)
        future: Future[tuple[Any, str | None]] = Future()
        with self._lock:
            if self.ended is not None:
                raise StubGone(self.ended)
            self._calls[call_id] = future
        try:
            self.channel.send((kind, call_id, payload))
            result, error = future.result(timeout_s)
        except FutureTimeout:
            raise StubTimedOut(f"no answer within {timeout_s:g} s") from None
        except OSError:
            raise StubGone(self._wait_ended()) from None
        finally:
            with self._lock:
                self._calls.pop(call_id, None)
        if error is not None:
            raise StubFailed(error)
        return result

    def send(self, message: tuple[Any, ...]) -> None:
        """Send a message that needs no reply (dropped if the process is gone)."""
        with contextlib.suppress(OSError):
            self.channel.send(message)

    def _read(self) -> None:
        try:
            while True:
                message = self.channel.receive()
                kind = message[0]
                if kind == "reply":
                    with self._lock:
                        future = self._calls.get(message[1])
                    if future is not None and not future.done():
                        future.set_result((message[2], message[3]))
                elif kind == "free":
                    self.channel.release(message[1])
                elif kind == "log":
                    log.log(_LOG_LEVELS[message[1]] if 0 <= message[1] < 4 else logging.INFO,
                            "%s: %s", self.label, message[2])
                else:
                    self.on_message(self, message)
        except (EOFError, OSError):
            pass
        except Exception:  # a bug of ours: the stub is unusable, say so and end it
            log.exception("%s: cannot read from the stub process", self.label)
            self.proc.kill()
        self._end(self._wait_ended())

    def _wait_ended(self) -> str:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return describe_exit(code)

    def _end(self, how: str) -> None:
        with self._lock:
            self.ended = how
            waiting, self._calls = list(self._calls.values()), {}
        for future in waiting:
            if not future.done():
                future.set_exception(StubGone(how))
        self.on_exit(how)

    def kill(self) -> None:
        """End the process now (the reading thread reports it)."""
        if self.proc.poll() is None:
            self.proc.kill()

    def stop(self, timeout_s: float, finalize: bool = True) -> None:
        """Ask the model to finalize (up to ``timeout_s``), then end the process; free the
        shared regions. Stopping again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if finalize and self.alive:
            try:
                self.call("finalize", None, timeout_s)
            except StubFailed as exc:
                log.warning("%s: finalize() failed: %s", self.label, exc)
            except (StubGone, StubTimedOut) as exc:
                log.warning("%s: finalize() did not complete: %s", self.label, exc)
        self.channel.shutdown()  # the stub sees the end of the stream and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=10)
        self.channel.close()
        self.channel.outgoing.close()
        self.channel.incoming.close()


def describe_exit(code: int) -> str:
    """How a process ended, in words."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _stderr_fd() -> int | None:
    """This process's stderr as a file descriptor; None (inherit stdout) where it has none."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
