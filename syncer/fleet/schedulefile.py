"""``syncer beat --schedules FILE``: schedules declared in a file, reconciled into Redis.

Schedules live in Redis, so a Redis that lost its data lost them too, and
nothing would plan again until a person added them back. A schedules file
is the declared set; ``syncer beat --schedules FILE`` makes Redis hold it,
at start and whenever the file, or what Redis holds, changes. The format
(YAML or JSON; paths are relative to the file)::

    schedules:
      mirrors:                     # the schedule's name (1-63 of a-z 0-9 . _ -)
        images: images.yaml        # required: an images file, as `schedule add --images`
        every: 15m                 # one of: every (30s, 15m, 2h, 1d), or
        # cron: "0 */2 * * *"      #   a five-field cron line, in UTC
        auth: auth.yaml            # optional: read for max_connections; never stored
        registry: harbor.local     # optional: default destination registry
        namespace: mirror          # optional: default destination namespace
        os: [linux]                # optional: as --os
        arch: [amd64, arm64]       # optional: as --arch
        force: false               # optional: push manifests even when unchanged
        ttl: 604800                # optional: seconds each plan's state is kept
        paused: false              # optional

A schedule the file declares is stored as the file says (a ``paused``
field left out keeps what ``schedule pause``/``resume`` set); one the file
declared before and no longer does is removed. Schedules added by hand
(``syncer schedule add``) are left alone, unless the file names one: then
the file's wins. A file that does not load at start is a one-line error; a
bad edit later is logged, and its last good version is kept applied.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis

from syncer.config.files import load_config, read_data
from syncer.defaults import PLAN_TTL
from syncer.errors import ConfigError
from syncer.fleet.beat import BeatEntries, cron_timing
from syncer.fleet.protocol import keys
from syncer.fleet.schedules import Schedule, ScheduleStore, check_name, parse_every
from syncer.oci.manifest import PlatformFilter

log = logging.getLogger(__name__)

_FIELDS = frozenset(
    {"images", "every", "cron", "auth", "registry", "namespace", "os", "arch", "force", "ttl"}
    | {"paused"}
)


@dataclass(frozen=True, slots=True)
class Declared:
    """One schedule the file declares, and whether the file says if it is paused."""

    schedule: Schedule
    pauses: bool


def load(path: Path) -> dict[str, Declared]:
    """The schedules a file declares, by name; :class:`ConfigError` naming the first bad field."""
    path = path.resolve()
    data = read_data(path)
    table = data.get("schedules") if isinstance(data, dict) else None
    if not isinstance(table, dict) or (isinstance(data, dict) and set(data) != {"schedules"}):
        raise ConfigError(f"{path}: expected a mapping with one key, schedules")
    return {str(name): _declared(path, str(name), body) for name, body in table.items()}


def _declared(path: Path, name: str, body: object) -> Declared:
    at = f"{path}: schedules.{name}"
    check_name(name)
    if not isinstance(body, dict):
        raise ConfigError(f"{at}: expected a mapping")
    unknown = sorted(set(map(str, body)) - _FIELDS)
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}: unknown field")
    if ("every" in body) == ("cron" in body):
        raise ConfigError(f"{at}: give one of every or cron")
    every = parse_every(str(body["every"])) if "every" in body else 0
    cron = " ".join(str(body.get("cron") or "").split())
    if cron:
        cron_timing(cron)
    images = _path(path, body, "images", at)
    if images is None:
        raise ConfigError(f"{at}.images: required")
    config = load_config(
        None,
        _path(path, body, "auth", at),
        images,
        default_registry=_text(body, "registry", at) or os.environ.get("DEFAULT_REGISTRY") or None,
        default_namespace=_text(body, "namespace", at)
        or os.environ.get("DEFAULT_NAMESPACE")
        or None,
    )
    if config.broken:
        raise ConfigError(config.broken[0].reason)
    if not config.rules:
        raise ConfigError(f"{at}.images: {images}: no images to schedule")
    ttl = body.get("ttl", PLAN_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise ConfigError(f"{at}.ttl: give a number of seconds of at least 1")
    for flag in ("force", "paused"):
        if not isinstance(body.get(flag, False), bool):
            raise ConfigError(f"{at}.{flag}: give true or false")
    schedule = Schedule(
        name,
        config.rules,
        every=every,
        cron=cron,
        limits=dict(config.limits),
        force=bool(body.get("force", False)),
        platforms=PlatformFilter.from_flags(_list(body, "os", at), _list(body, "arch", at)),
        ttl=ttl,
        source=f"{images} (from {path})",
        paused=bool(body.get("paused", False)),
    )
    return Declared(schedule, "paused" in body)


def _text(body: Mapping[str, Any], field: str, at: str) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise ConfigError(f"{at}.{field}: give a string")
    return value


def _path(base: Path, body: Mapping[str, Any], field: str, at: str) -> Path | None:
    value = _text(body, field, at)
    return (base.parent / value) if value else None


def _list(body: Mapping[str, Any], field: str, at: str) -> list[str]:
    value = body.get(field, [])
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{at}.{field}: give a string or a list of strings")
    return list(items)


class Reconciler:
    """Makes one Redis hold the schedules one file declares."""

    def __init__(self, client: redis.Redis, path: Path, url: str) -> None:
        self.client, self.path = client, path.resolve()
        self._store = ScheduleStore(client)
        self._entries = BeatEntries(url)
        self._stamp: tuple[int, int, int] | None = None
        self._declared: dict[str, Declared] = {}

    def load(self) -> bool:
        """Read the file again if it changed; True if it did. A bad file raises ConfigError."""
        st = os.stat(self.path)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp:
            return False
        declared = load(self.path)
        self._stamp, self._declared = stamp, declared
        return True

    def apply(self) -> list[str]:
        """Store, update and remove schedules until Redis holds the file's; what changed."""
        stored = {s.name: s for s in self._store.all()}
        changes: list[str] = []
        for name, want in self._declared.items():
            have = stored.get(name)
            schedule = want.schedule
            if have is not None and not want.pauses:
                schedule = replace(schedule, paused=have.paused)
            if have != schedule:
                self.client.hset(keys.schedules(), name, _json(schedule))
                changes.append(f"{'updated' if have else 'added'} {name}")
            if have != schedule or self._entries.due_at(name) is None and not schedule.paused:
                self._entries.save(schedule)
        for name, have in stored.items():
            if name not in self._declared and have.source.endswith(f"(from {self.path})"):
                self._entries.delete(name)
                self._store.remove(name)
                changes.append(f"removed {name}")
        return changes

    def keep(self, every: float, stop: threading.Event) -> None:
        """Reconcile every ``every`` seconds until ``stop`` is set; problems are logged, not raised.

        A round puts right a changed file and a Redis that lost its schedules.
        """
        problem = ""
        while not stop.wait(every):
            changed = False
            try:
                changed = self.load()
                problem = ""
            except (ConfigError, OSError) as exc:
                if str(exc) != problem:
                    log.error("schedules file not applied; keeping its last good version: %s", exc)
                problem = str(exc)
            try:
                changes = self.apply()
            except redis.RedisError as exc:
                log.debug("schedules not reconciled this round: %s", exc)
                continue
            if changes:
                why = "the file changed" if changed else "Redis did not hold them"
                log.warning("schedules reconciled (%s): %s", why, ", ".join(changes))


def _json(schedule: Schedule) -> str:
    return json.dumps(schedule.to_dict())
