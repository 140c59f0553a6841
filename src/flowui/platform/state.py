"""What `flowui up` records for other terminals (the state file, each component's log) and the
errors that name what it recorded."""

from __future__ import annotations

import os
import signal
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from flowui.config import Profile, Settings
from flowui.platform.environment import PlatformPaths
from flowui.platform.processes import is_alive

# Written into a component's log at each start: a log tail shows the latest start only.
LOG_HEADER = "===== flowui up:"


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines that the latest start wrote to a log file ('' if none)."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - 64 * 1024))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    all_lines = text.splitlines()
    starts = [i for i, line in enumerate(all_lines) if line.startswith(LOG_HEADER)]
    return "\n".join(all_lines[starts[-1] if starts else 0 :][-lines:])


class ComponentState(BaseModel):
    name: str
    pid: int
    process_group: int
    start_ticks: int | None
    log_file: Path
    restarts: int = 0  # times the supervisor started it again after it died


class PlatformState(BaseModel):
    """What `flowui up` records in `{root}/platform/state.json` for other terminals."""

    supervisor_pid: int | None  # None when started with --detach
    supervisor_start_ticks: int | None
    port: int
    api_url: str
    server_url: str | None = None  # None when started without the FlowUI server
    profile: Profile = Profile.EMBEDDED
    executor: str = "LocalExecutor"
    started_at: datetime
    components: list[ComponentState]

    def component_alive(self, name: str) -> bool:
        return any(is_alive(c.pid, c.start_ticks) for c in self.components if c.name == name)

    @property
    def supervisor_alive(self) -> bool:
        return self.supervisor_pid is not None and is_alive(
            self.supervisor_pid, self.supervisor_start_ticks
        )

    @property
    def components_alive(self) -> bool:
        return any(self.component_alive(c.name) for c in self.components)

    @property
    def any_alive(self) -> bool:
        return self.supervisor_alive or self.components_alive


def read_state(settings: Settings) -> PlatformState | None:
    """The recorded platform of this project, alive or stale; None if there is none."""
    path = PlatformPaths(settings.root).state_file
    try:
        return PlatformState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError):
        return None  # unreadable: as good as absent, the next `up` rewrites it


class PlatformError(Exception):
    """The platform cannot start, stay up or stop; `hint` says what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message)


class PlatformAlreadyRunning(PlatformError):
    """Another `flowui up` runs this project's platform."""


class ComponentDied(PlatformError):
    """A component exited while it should have been running."""

    def __init__(self, component: ComponentState, exit_code: int | None) -> None:
        self.component = component
        self.exit_code = exit_code
        if exit_code is not None and exit_code < 0:
            code = f" (killed by {signal.Signals(-exit_code).name})"
        else:
            code = f" with exit code {exit_code}" if exit_code is not None else ""
        super().__init__(
            f"{component.name} (pid {component.pid}) exited{code}; its log is {component.log_file}",
            hint=f"last lines of {component.log_file}:\n{log_tail(component.log_file)}",
        )


class StartCancelled(PlatformError):
    """The start was interrupted (Ctrl-C or SIGTERM) before the platform was healthy."""
