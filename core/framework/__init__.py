"""The framework kit: what every Mesos-style framework needs, written once (see README.md)."""

from core.clock import Clock, SystemClock, iso, iso_now, iso_or_none
from core.framework.backoff import Backoff, BackoffPolicy
from core.framework.faults import Fault, ObjectFaults
from core.framework.health import HealthRegistry
from core.framework.killing import Killer
from core.framework.launch_queue import LaunchQueue, LaunchRequest, OfferFunnel
from core.framework.loop import FAILOVER_TIMEOUT, LoopConfig, SchedulerHooks, SchedulerLoop
from core.framework.plugin import Context, Framework, NoSandboxes, SandboxLocator, ServerInfo, discover
from core.framework.supervisor import FrameworkHealth, FrameworkState, Supervisor
from core.framework.tracker import TaskTracker, TrackedTask
from core.framework.writeahead import WriteAhead

__all__ = [
    "FAILOVER_TIMEOUT",
    "Backoff",
    "BackoffPolicy",
    "Clock",
    "Context",
    "Fault",
    "Framework",
    "FrameworkHealth",
    "FrameworkState",
    "HealthRegistry",
    "Killer",
    "LaunchQueue",
    "LaunchRequest",
    "LoopConfig",
    "NoSandboxes",
    "ObjectFaults",
    "OfferFunnel",
    "SandboxLocator",
    "SchedulerHooks",
    "SchedulerLoop",
    "ServerInfo",
    "Supervisor",
    "SystemClock",
    "TaskTracker",
    "TrackedTask",
    "WriteAhead",
    "discover",
    "iso",
    "iso_now",
    "iso_or_none",
]
