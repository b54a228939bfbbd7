"""How many ONNX Runtime threads a session gets, and whether they spin.

A model's ``config.pbtxt`` may set, with Triton's ONNX Runtime backend names,
``intra_op_thread_count`` and ``inter_op_thread_count`` (0 or absent: the server's default),
and, with ONNX Runtime's own session-config keys, ``session.intra_op.allow_spinning`` and
``session.inter_op.allow_spinning`` ("0" or "1"). Any of these gives the model's sessions
their own thread pool. Triton's ``execution_mode`` ("1": run independent nodes in parallel on
the inter-op threads; "0", the default: one node after another) is read here too.

Spinning: after each parallel section ONNX Runtime's pool workers busy-wait for more work. That
saves a wake-up inside one long run, but between runs the spinner takes a core from whatever
else runs on the machine: the server's event loop, the load generator, other tenants. A model
whose batches compute in microseconds pays the hand-off and gains nothing from the spin, so
the server's default (``RuntimeSettings.intra_op_spinning``) can turn it off for every CPU
session. The process-wide shared pool cannot stop spinning (ONNX Runtime's Python API sizes it
but offers no spinning switch), so a session that must not spin gets its own pool.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.cpus import usable_cores
from modelport.errors import ModelLoadError
from modelport.repository.config import ModelConfig
from modelport.runtime.base import RuntimeSettings

INTRA = "intra_op_thread_count"
INTER = "inter_op_thread_count"
INTRA_SPIN = "session.intra_op.allow_spinning"
INTER_SPIN = "session.inter_op.allow_spinning"
EXECUTION_MODE = "execution_mode"


@dataclass(frozen=True)
class SessionThreads:
    """A session's thread settings; ``shared``: it runs on the process-wide pool instead."""

    intra: int
    inter: int
    intra_spinning: bool
    inter_spinning: bool
    shared: bool = False
    parallel: bool = False  # ORT_PARALLEL execution (Triton's execution_mode "1")

    @property
    def spawns_threads(self) -> bool:
        """Whether creating the session starts long-lived pool threads of its own."""
        return not self.shared and (self.intra > 1 or self.inter > 1)

    def config_entries(self) -> dict[str, str]:
        """ONNX Runtime session-config entries for a session with its own pool."""
        return {INTRA_SPIN: "1" if self.intra_spinning else "0",
                INTER_SPIN: "1" if self.inter_spinning else "0"}


def count(config: ModelConfig, key: str) -> int:
    """A thread-count parameter; 0 when absent, 0 or not a whole number (Triton's default)."""
    text = config.parameters.get(key, "").strip()
    return int(text) if text.isascii() and text.isdigit() else 0


def switch(config: ModelConfig, key: str) -> bool | None:
    """A spinning parameter: None when absent.

    Raises:
        ModelLoadError: the value is not "0" or "1" (ONNX Runtime accepts only those).
    """
    text = config.parameters.get(key)
    if text is None:
        return None
    if text.strip() not in ("0", "1"):
        raise ModelLoadError(f"model '{config.name}': parameter '{key}' must be \"0\" or \"1\", "
                             f"not {text!r}")
    return text.strip() == "1"


def tuned(config: ModelConfig) -> bool:
    """Whether the config sets any thread parameter (its sessions then get their own pool)."""
    return bool(count(config, INTRA) or count(config, INTER) or parallel(config)
                or switch(config, INTRA_SPIN) is not None
                or switch(config, INTER_SPIN) is not None)


def parallel(config: ModelConfig) -> bool:
    """Triton's ``execution_mode`` parameter: True for "1" (parallel).

    Raises:
        ModelLoadError: the value is not "0" or "1" (Triton accepts only those).
    """
    text = config.parameters.get(EXECUTION_MODE, "0").strip()
    if text not in ("0", "1"):
        raise ModelLoadError(f"model '{config.name}': parameter '{EXECUTION_MODE}' must be "
                             f"\"0\" or \"1\", not {text!r}")
    return text == "1"


def session_threads(config: ModelConfig, settings: RuntimeSettings,
                    may_share: bool) -> SessionThreads:
    """The thread settings of one session of ``config``.

    ``may_share``: the session could run on the shared pool (a CPU-only session in a process
    the server owns); it does when the config tunes nothing and the server lets threads spin.
    """
    spin = settings.intra_op_spinning
    if may_share and spin and not tuned(config):
        return SessionThreads(settings.intra_op_threads or usable_cores(), 1, True, True,
                              shared=True)
    intra = (count(config, INTRA) or settings.intra_op_threads
             or max(1, usable_cores() // config.instance_count))
    intra_spin = switch(config, INTRA_SPIN)
    inter_spin = switch(config, INTER_SPIN)
    mode = parallel(config)
    return SessionThreads(intra, count(config, INTER) or (usable_cores() if mode else 1),
                          spin if intra_spin is None else intra_spin,
                          spin if inter_spin is None else inter_spin, parallel=mode)
