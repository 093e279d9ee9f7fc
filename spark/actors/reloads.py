"""The system's side of a reload (SIGHUP, `spark reload`), mixed into `spark.system.System`: new settings, a
rescan of the installed plugins, the users file read again, and a word for each change.

The System provides ``_settings``, ``_plugins``, ``_generation``, ``_users``, ``_reload_status``, ``metrics``,
``now_ms`` and ``_to_scheduler``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio

from spark.actors.messages import Wake
from spark.config import Settings, changed_settings
from spark.plugin.manager import Plugins, build_plugins, scan_plugins
from spark.plugin.request import settings_gates
from spark.plugin.services import ReloadStatus
from spark.service.users import UserDirectory, load_users, users_path

__all__ = ["Reloads", "plugins_for", "users_for"]


class Reloads:
    _settings: Settings
    _plugins: Plugins
    _generation: int
    _users: UserDirectory
    _reload_status: ReloadStatus
    _to_scheduler: Any
    metrics: Any
    now_ms: Any

    async def reload(self, settings: Settings) -> list[str]:
        """Swap the settings (SIGHUP, `spark reload`) and rescan the installed plugins; returns what changed, in
        words. Plugin switches, limits, queue size and mock delay act at once; a newly installed strategy or feed
        is offered and runs from now on (a new plugin generation); routes a new plugin would add need a restart;
        folders and the SSE ring keep their start-up values. Runs and streams in flight go on (a run keeps the
        generation it was accepted under). A plugin set that does not load raises PluginError and changes
        nothing."""
        settings_gates(settings.risk_gates)  # default risk gates that are not valid gates refuse the reload
        fresh = await trio.to_thread.run_sync(plugins_for, settings, self._plugins.plugin_set.extra)
        users = await trio.to_thread.run_sync(users_for, settings)  # a bad users file refuses the reload
        changes = []
        if fresh.plugin_set != self._plugins.plugin_set:
            before, after = set(self._plugins.names), set(fresh.names)
            self._plugins = fresh
            self._generation += 1
            changes.append(
                f"plugins: generation {self._generation}"
                + "".join(f", +{name}" for name in sorted(after - before))
                + "".join(f", -{name}" for name in sorted(before - after))
            )
        if settings != self._settings:
            changes += [f"{name}: {old!r} -> {new!r}" for name, old, new in changed_settings(self._settings, settings)]
        if users.users != self._users.users:
            changes.append(f"users: {len(users.users)} (the users file re-read)")
        self._settings, self._users = settings, users
        self.metrics.worker_slots.set(settings.max_concurrent)
        self._reload_status = self._reload_status.succeeded(self.now_ms())
        if self._to_scheduler is not None:
            # busy: it looks at the limits again on its next change; closing: nothing to wake
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                self._to_scheduler.send_nowait(Wake())
        return changes

    def reload_failed(self, error: str) -> None:
        """A reload whose configuration does not load: the settings stay; `reload_status` says why."""
        self._reload_status = self._reload_status.failed(error)

    @property
    def reload_status(self) -> ReloadStatus:
        return self._reload_status


def users_for(settings: Settings) -> UserDirectory:
    """The users file (re-read at every reload) and ADMIN_TOKEN's built-in ``admin``."""
    return UserDirectory(load_users(users_path(settings.state_dir, settings.users_file)), settings.admin_token)


def plugins_for(settings: Settings, extra: tuple[tuple[object, str], ...]) -> Plugins:
    """Scan and load the plugins ``settings`` allow (blocking: imports). The write plugin loads even when disabled
    and is gated per request, so a reload can switch it back on."""
    return build_plugins(scan_plugins([name for name in settings.disabled_plugins if name != "write"], extra))
