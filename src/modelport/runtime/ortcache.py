"""The on-disk cache of ONNX Runtime's optimized models.

Optimizing a graph (constant folding, fusions, layout changes) is most of a session's creation
time; ONNX Runtime can write the optimized graph out, and a later session that reads it with
optimizations off starts faster. An entry is only correct for exactly what produced it, so its
key covers everything the session read: the graph and every external-data file (by content, so
a copied repository still hits and a retrain that changes only the weights misses), the ONNX
Runtime version, the optimization settings and the CPU (the optimized graph can hold
CPU-specific kernels). Each entry is a folder holding ``model.onnx`` and, for the weights,
``model.onnx.data``: it never refers back to the user's files, so it survives their move.
Entries are written into a private folder and renamed into place, so a reader never sees half
of one and concurrent writers cannot mix theirs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelport.runtime.onnxfile import OnnxFiles

FORMAT = "v2"  # bump when the layout of an entry changes
MODEL_FILE = "model.onnx"
DATA_FILE = "model.onnx.data"
# Initializers at least this large go to the data file; the graph file stays small and any
# model, even one over protobuf's 2 GB limit, can be cached.
EXTERNAL_MIN_BYTES = 1024


@dataclass(frozen=True)
class CacheEntry:
    """Where the optimized form of one model, under one set of settings, lives."""

    folder: Path

    @property
    def model(self) -> Path:
        """The optimized graph file (present once the entry is complete)."""
        return self.folder / MODEL_FILE

    def exists(self) -> bool:
        """Whether a complete entry is in place."""
        return self.model.is_file()

    def discard(self) -> None:
        """Remove the entry (it failed to load); the next session rebuilds it."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def writer(self, options: Any) -> CacheWriter:
        """Point ``options`` (an ort.SessionOptions) at a private folder for this entry."""
        staging = self.folder.with_name(f"{self.folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        self._remove_orphans()
        staging.mkdir(parents=True)
        options.optimized_model_filepath = str(staging / MODEL_FILE)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_file_name", DATA_FILE)
        options.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes",
            str(EXTERNAL_MIN_BYTES))
        return CacheWriter(staging, self.folder)

    def _remove_orphans(self) -> None:
        """Drop private folders of this entry left by writers that died (a server killed
        mid-load): they would never be renamed into place or cleaned up otherwise."""
        for folder in self.folder.parent.glob(f"{self.folder.name}.*.tmp"):
            pid = folder.name[len(self.folder.name) + 1:-len(".tmp")]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass(frozen=True)
class CacheWriter:
    """Moves a finished entry from its private folder into place."""

    staging: Path
    target: Path

    def commit(self) -> None:
        """Install the entry unless another process installed one first."""
        if not (self.staging / MODEL_FILE).is_file():
            self.abandon()
            return
        try:
            self.staging.rename(self.target)
        except OSError:  # another writer won the race; theirs is as good as ours
            self.abandon()

    def abandon(self) -> None:
        """Drop the private folder."""
        shutil.rmtree(self.staging, ignore_errors=True)


def cache_entry(cache_dir: Path, files: OnnxFiles, ort_version: str, settings_key: str,
                ) -> CacheEntry:
    """The entry for ``files`` optimized by ONNX Runtime ``ort_version`` under ``settings_key``."""
    key = hashlib.sha256(
        "\0".join([FORMAT, files.digest(), ort_version, settings_key, cpu_fingerprint()])
        .encode()).hexdigest()[:32]
    return CacheEntry(cache_dir / "ort" / key)


@lru_cache(maxsize=1)
def cpu_fingerprint() -> str:
    """The machine type and CPU feature flags (optimized graphs may use CPU-specific kernels)."""
    flags = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = " ".join(sorted(line.partition(":")[2].split()))
                break
    return hashlib.sha256(f"{platform.machine()} {flags}".encode()).hexdigest()[:16]
