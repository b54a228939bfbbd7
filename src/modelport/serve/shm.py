"""System shared memory regions that clients register and name in inference requests.

A client creates a POSIX shared memory object (``tritonclient.utils.shared_memory``), registers
a region of it under a name, and then passes ``shared_memory_region`` / ``_offset`` /
``_byte_size`` for inputs (read from the region instead of the request body) and outputs
(written into the region instead of the response). Registration needs the server to allow it
(``--allow-client-shm``, off by default, as in Triton: a client chooses which of the server's
shared memory objects to read and write). A region unregistered while requests use it stays
mapped until they finish, then goes. Messages follow Triton's words where its QA tests check
them.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelport.errors import InvalidInput, ModelNotFound

SHM_ROOT = Path("/dev/shm")
RESERVED_PREFIX = "triton_python_backend_shm_region_"  # Triton's Python backend's own regions
UINT64_MAX = 2**64 - 1


@dataclass(frozen=True)
class ShmRef:
    """Where a tensor lives: a region name, an offset into it and a size."""

    region: str
    offset: int
    byte_size: int


@dataclass(frozen=True)
class RegionStatus:
    """What the status API reports of a region."""

    name: str
    key: str
    offset: int
    byte_size: int


@dataclass
class _Region:
    status: RegionStatus
    memory: mmap.mmap
    users: int = 0
    unregistered: bool = False
    base: int = field(init=False)

    def __post_init__(self) -> None:
        self.base = self.status.offset


class SharedMemory:
    """The server's registry of system shared memory regions (event-loop thread only)."""

    def __init__(self, allowed: bool, root: Path = SHM_ROOT) -> None:
        self.allowed = allowed
        self.root = root
        self._regions: dict[str, _Region] = {}

    def status(self, name: str = "") -> list[RegionStatus]:
        """Every registered region, or the one called ``name``.

        Raises:
            ModelNotFound: no region has that name.
        """
        if not name:
            return [r.status for _, r in sorted(self._regions.items())]
        region = self._regions.get(name)
        if region is None:
            raise ModelNotFound(f"Unable to find system shared memory region: '{name}'")
        return [region.status]

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Map ``byte_size`` bytes at ``offset`` of the object ``key`` as region ``name``.

        Raises:
            InvalidInput: registration is off, the name is taken, or the key, offset or size
                do not fit the object.
        """
        self._check_allowed()
        if name in self._regions:
            raise InvalidInput(f"shared memory region '{name}' already in manager")
        path = self._object(name, key)
        if offset < 0 or byte_size < 0:
            raise InvalidInput(f"failed to register shared memory region '{name}': invalid args")
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError as exc:
            raise InvalidInput(f"Unable to open shared memory region: '{key}' "
                               f"({exc.strerror})") from None
        try:
            size = os.fstat(fd).st_size
            if offset + byte_size > size or size == 0:
                raise InvalidInput(f"failed to register shared memory region '{name}': invalid "
                                   f"args (offset {offset} + byte_size {byte_size} against the "
                                   f"object's {size} bytes)")
            memory = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._regions[name] = _Region(RegionStatus(name, key, offset, byte_size), memory)

    def _object(self, name: str, key: str) -> Path:
        stripped = key.lstrip("/")
        if stripped.startswith(RESERVED_PREFIX):
            raise InvalidInput(f"cannot register shared memory region '{name}' with key '{key}' "
                               f"as the key contains the reserved prefix '{RESERVED_PREFIX}'")
        if not stripped or "/" in stripped or "\0" in stripped or stripped in (".", ".."):
            raise InvalidInput(f"cannot register shared memory region '{name}' - invalid shm "
                               f"key '{key}'")
        return self.root / stripped

    def unregister(self, name: str = "") -> None:
        """Unregister ``name`` (every region when empty); a region in use goes once its
        requests finish. Unknown names are not an error (Triton's rule).

        Raises:
            InvalidInput: registration is off.
        """
        self._check_allowed()
        for region_name in [name] if name else list(self._regions):
            region = self._regions.get(region_name)
            if region is None:
                continue
            region.unregistered = True
            if region.users == 0:
                self._drop(region_name)

    def _check_allowed(self) -> None:
        if not self.allowed:
            raise InvalidInput("Client shared memory is disabled: start the server with "
                               "--allow-client-shm true to register regions")

    def acquire(self, ref: ShmRef, what: str) -> _Region:
        """The region ``ref`` names, held for the request until ``release``.

        Raises:
            InvalidInput: no such region, or the offset and size leave it.
        """
        region = self._regions.get(ref.region)
        if region is None or region.unregistered:
            raise InvalidInput(f"Unable to find system shared memory region: '{ref.region}' "
                               f"(used by {what})")
        size = region.status.byte_size
        if ref.offset + ref.byte_size > UINT64_MAX:
            raise InvalidInput(f"Integer overflow detected: byte_size {ref.byte_size} + offset "
                               f"{ref.offset} for shared memory region '{ref.region}'")
        if ref.offset >= size and not (ref.offset == size and ref.byte_size == 0):
            raise InvalidInput(f"Invalid offset for shared memory region: '{ref.region}' "
                               f"(offset {ref.offset}, region of {size} bytes)")
        if ref.offset + ref.byte_size > size:
            raise InvalidInput(f"Invalid offset + byte size for shared memory region: "
                               f"'{ref.region}' ({ref.offset} + {ref.byte_size} > {size})")
        region.users += 1
        return region

    def release(self, region: _Region) -> None:
        """A request is done with ``region``."""
        region.users -= 1
        if region.users == 0 and region.unregistered:
            self._drop(region.status.name)

    def _drop(self, name: str) -> None:
        region = self._regions.pop(name)
        region.memory.close()

    def close(self) -> None:
        """Unmap every region (server shutdown)."""
        for name in list(self._regions):
            self._drop(name)


def read(region: _Region, ref: ShmRef) -> bytes:
    """A copy of the bytes ``ref`` names in ``region``."""
    start = region.base + ref.offset
    return region.memory[start:start + ref.byte_size]


def write(region: _Region, ref: ShmRef, data: bytes, output: str) -> None:
    """Write an output's bytes at ``ref``.

    Raises:
        InvalidInput: the region part is too small for the output.
    """
    if len(data) > ref.byte_size:
        raise InvalidInput(f"shared memory size specified with the request for output "
                           f"'{output}' ({ref.byte_size} bytes) should be at least "
                           f"{len(data)} bytes to hold the results")
    start = region.base + ref.offset
    region.memory[start:start + len(data)] = data


def parse_ref(tensor: str, params: dict[str, object]) -> ShmRef | None:
    """The shared-memory parameters of an input or requested output (None when absent).

    Raises:
        InvalidInput: they are incomplete or of the wrong type (Triton's words).
    """
    region = params.get("shared_memory_region")
    for key in ("shared_memory_offset", "shared_memory_byte_size"):
        if key in params and region is None:
            raise InvalidInput(f"'{key}' can not be specified without 'shared_memory_region' "
                               f"parameter for tensor '{tensor}'")
    if region is None:
        return None
    if not isinstance(region, str):
        raise InvalidInput(f"invalid value type for 'shared_memory_region' parameter for tensor "
                           f"'{tensor}', expected string_param.")
    if "shared_memory_byte_size" not in params:
        raise InvalidInput(f"'shared_memory_byte_size' must be specified along with "
                           f"'shared_memory_region' parameter for tensor '{tensor}'")
    offset = _uint(tensor, "shared_memory_offset", params.get("shared_memory_offset", 0))
    size = _uint(tensor, "shared_memory_byte_size", params["shared_memory_byte_size"])
    return ShmRef(region, offset, size)


def _uint(tensor: str, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"invalid value type for '{key}' parameter for tensor '{tensor}', "
                           "expected int64_param.")
    if value < 0:
        raise InvalidInput(f"'{key}' of tensor '{tensor}' must not be negative, got {value}")
    return value


class Held:
    """The regions one request uses, released together when it is answered."""

    def __init__(self, memory: SharedMemory) -> None:
        self.memory = memory
        # ("input" | "output", tensor) -> region, place
        self.regions: dict[tuple[str, str], tuple[_Region, ShmRef]] = {}

    def take(self, kind: str, tensor: str, ref: ShmRef) -> _Region:
        """Acquire the region ``ref`` names for ``kind`` (input or output) ``tensor``."""
        region = self.memory.acquire(ref, f"{kind} '{tensor}'")
        self.regions[(kind, tensor)] = (region, ref)
        return region

    def output(self, tensor: str) -> tuple[_Region, ShmRef] | None:
        """Where output ``tensor`` goes, if the client placed it in shared memory."""
        return self.regions.get(("output", tensor))

    def release(self) -> None:
        """Let go of every region (the request is answered)."""
        for region, _ in self.regions.values():
            self.memory.release(region)
        self.regions.clear()
