"""The local platform: the supervisor behind `flowui up` that runs Airflow's components."""

from flowui.platform.environment import (
    ADMIN_USERNAME,
    DEFAULT_PORT,
    HOST,
    AdminCredentials,
    PlatformPaths,
    airflow_command,
    airflow_environment,
    airflow_settings,
    ensure_admin_credentials,
)
from flowui.platform.health import ComponentStatus, PlatformStatus, platform_status
from flowui.platform.launching import COMPONENTS, free_port, port_is_free
from flowui.platform.processes import (
    is_process_running,
    platform_memory_pss,
    process_tree_pids,
    process_tree_pss,
)
from flowui.platform.state import (
    ComponentDied,
    PlatformAlreadyRunning,
    PlatformError,
    PlatformState,
    StartCancelled,
    log_tail,
    read_state,
)
from flowui.platform.supervisor import Platform

__all__ = [
    "ADMIN_USERNAME",
    "COMPONENTS",
    "DEFAULT_PORT",
    "HOST",
    "AdminCredentials",
    "ComponentDied",
    "ComponentStatus",
    "Platform",
    "PlatformAlreadyRunning",
    "PlatformError",
    "PlatformPaths",
    "PlatformState",
    "PlatformStatus",
    "StartCancelled",
    "airflow_command",
    "airflow_environment",
    "airflow_settings",
    "ensure_admin_credentials",
    "free_port",
    "is_process_running",
    "log_tail",
    "platform_memory_pss",
    "platform_status",
    "port_is_free",
    "process_tree_pids",
    "process_tree_pss",
    "read_state",
]
