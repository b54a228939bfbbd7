"""Triton's API restrictions: groups of endpoints that answer only requests carrying a header.

``--http-restricted-api <groups>:<key>=<value>`` and ``--grpc-restricted-protocol`` (Triton's
flags and syntax, repeatable) put groups of endpoints behind a header: a request to a restricted
group without ``key: value`` is refused before the endpoint runs. Triton's answers are kept:
HTTP 403 ``This API is restricted, expecting header '<key>'``; gRPC UNAVAILABLE ``This protocol
is restricted, expecting header 'triton-grpc-protocol-<key>'`` (gRPC keys take Triton's prefix).
A group may be in one restriction only. Each front maps its endpoints onto the groups
(serve/http/restricted.py, serve/grpc/restricted.py); this module holds what both share.

Unlike Triton, header keys compare case-insensitively (HTTP header names are; gRPC metadata
keys are lower case on the wire) and values compare in constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from modelport.errors import ApiRestricted, ConfigError

GROUPS = ("health", "metadata", "inference", "shared-memory", "model-config",
          "model-repository", "statistics", "trace", "logging")
GRPC_KEY_PREFIX = "triton-grpc-protocol-"

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name


@dataclass(frozen=True)
class Restriction:
    """The header a group's requests must carry: ``header`` (lower case) set to ``value``."""

    header: str
    value: str

    def allows(self, given: str | None) -> bool:
        """Whether ``given`` (the request's value of ``header``) is the expected value."""
        return given is not None and hmac.compare_digest(given.encode(), self.value.encode())


class Restrictions:
    """Which groups are restricted, and by which header."""

    def __init__(self, by_group: dict[str, Restriction] | None = None) -> None:
        self.by_group = dict(by_group or {})

    def __bool__(self) -> bool:
        return bool(self.by_group)

    @classmethod
    def parse(cls, specs: Iterable[str], flag: str, key_prefix: str = "") -> Restrictions:
        """Parse ``<group>[,<group>...]:<key>=<value>`` flags (``key_prefix`` is put before
        each key: Triton's ``triton-grpc-protocol-`` for gRPC).

        Raises:
            ConfigError: a malformed spec, an unknown group, or a group named twice.
        """
        by_group: dict[str, Restriction] = {}
        for spec in specs:
            groups, key, value = _split(spec, flag)
            restriction = Restriction((key_prefix + key).lower(), value)
            for group in groups:
                if group not in GROUPS:
                    raise ConfigError(f"{flag} {spec!r}: unknown group '{group}' (groups: "
                                      f"{', '.join(GROUPS)})")
                if group in by_group:
                    raise ConfigError(f"{flag}: group '{group}' is restricted twice; a group "
                                      "may be in one restriction only (Triton's rule)")
                by_group[group] = restriction
        return cls(by_group)

    def get(self, group: str | None) -> Restriction | None:
        """The restriction on ``group`` (None: the group is open, or the endpoint has none)."""
        return self.by_group.get(group) if group is not None else None

    def check(self, group: str | None, headers: dict[str, str], refusal: str) -> None:
        """Refuse a request to ``group`` whose ``headers`` (lower-case keys) lack the header.

        Raises:
            ApiRestricted: the group is restricted and the header is missing or wrong;
                ``refusal`` is Triton's sentence ("This API is restricted").
        """
        restriction = self.get(group)
        if restriction is not None and not restriction.allows(headers.get(restriction.header)):
            raise ApiRestricted(f"{refusal}, expecting header '{restriction.header}'")


def _split(spec: str, flag: str) -> tuple[list[str], str, str]:
    """``a,b:key=value`` as (["a", "b"], "key", "value")."""
    groups, colon, setting = spec.partition(":")
    key, equals, value = setting.partition("=")
    usage = (f"{flag} {spec!r}: expected <groups>:<header>=<value>, e.g. "
             f"{flag} model-repository,statistics:admin-key=secret")
    names = [g.strip() for g in groups.split(",")]
    if not (colon and equals and value) or not all(names) or not _TOKEN.match(key):
        raise ConfigError(usage)
    return names, key, value
