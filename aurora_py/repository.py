"""Where Aurora's state lives in the store, written through the kit's write-ahead.

Keys: `jobs/<cluster/role/env/name>` (the job's configurations as their JSON descriptions, its
assignment, stopped instances and service port), `quota/<role>`, `updates/<id>` and, by the
kit's tracker, `tasks/<task id>`. Every write is a mark in the `WriteAhead`; its value is read
when the next commit is made. Descriptions are stored as the client sent them and parsed again
(`validation.parse_config`) on load; one that no longer parses is left out and reported, and so
is a quota that is not finite numbers (`quota_of`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

from aurora_py.errors import AuroraError, UnreadableState
from aurora_py.model import (
    InstanceEvent,
    JobConfig,
    JobKey,
    JobUpdate,
    Progress,
    Quota,
    ScheduledTask,
    StoredJob,
    UpdateEvent,
    UpdateSettings,
    UpdateStatus,
)
from aurora_py.validation import parse_config
from core.framework import WriteAhead
from core.store import Namespace

Document = dict[str, Any]


class JobDocument(msgspec.Struct):
    key: str
    description: Document
    stopped: list[int] = msgspec.field(default_factory=list)
    service_port: int | None = None
    configs: dict[str, Document] = msgspec.field(default_factory=dict)
    assignment: dict[int, str] = msgspec.field(default_factory=dict)


class UpdateDocument(msgspec.Struct):
    id: str
    job: str
    status: UpdateStatus
    settings: UpdateSettings
    old: dict[int, str | None]
    new: dict[int, str | None]
    configs: dict[str, Document]
    progress: dict[int, Progress] = msgspec.field(default_factory=dict)
    events: list[UpdateEvent] = msgspec.field(default_factory=list)
    instance_events: list[InstanceEvent] = msgspec.field(default_factory=list)
    message: str = ""
    autopaused_at: int = 0
    latest_failure: str = ""


_task = msgspec.json.Decoder(ScheduledTask)
_job = msgspec.json.Decoder(JobDocument)
_update = msgspec.json.Decoder(UpdateDocument)
_quota = msgspec.json.Decoder(Quota)


def encode_task(task: ScheduledTask) -> bytes:
    return msgspec.json.encode(task)


def decode_task(data: bytes) -> ScheduledTask:
    return _task.decode(data)


def _configs(documents: dict[str, Document]) -> dict[str, JobConfig]:
    return {ident: parse_config(doc, runnable=False) for ident, doc in documents.items()}


def job_of(document: JobDocument) -> StoredJob:
    config = parse_config(document.description, runnable=False)
    configs = _configs(document.configs)
    configs.setdefault(config.ident, config)
    return StoredJob(key=JobKey.parse(document.key), config=config, stopped=set(document.stopped),
                     service_port=document.service_port, configs=configs,
                     assignment=dict(document.assignment) or dict.fromkeys(range(config.instances), config.ident))


def document_of(job: StoredJob) -> JobDocument:
    return JobDocument(str(job.key), job.config.document, sorted(job.stopped), job.service_port,
                       {ident: c.document for ident, c in job.configs.items()}, dict(job.assignment))


def update_of(document: UpdateDocument) -> JobUpdate:
    return JobUpdate(id=document.id, job=document.job, status=document.status, settings=document.settings,
                     old=document.old, new=document.new, configs=_configs(document.configs),
                     progress=document.progress, events=document.events, instance_events=document.instance_events,
                     message=document.message, autopaused_at=document.autopaused_at,
                     latest_failure=document.latest_failure)


def update_document(update: JobUpdate) -> UpdateDocument:
    return UpdateDocument(update.id, update.job, update.status, update.settings, update.old, update.new,
                          {ident: c.document for ident, c in update.configs.items()}, update.progress, update.events,
                          update.instance_events, update.message, update.autopaused_at, update.latest_failure)


def quota_of(raw: bytes) -> Quota:
    """A stored quota; UnreadableState when it is not one of finite numbers (an older version
    stored NaN as null)."""
    try:
        quota = _quota.decode(raw)
    except msgspec.DecodeError as exc:
        raise UnreadableState(f"quota: {exc}") from None
    if not all(math.isfinite(v) for v in (quota.num_cpus, quota.ram_mb, quota.disk_mb)):
        raise UnreadableState("quota: holds a number that is not finite")
    return quota


@dataclass
class Loaded:
    jobs: dict[JobKey, StoredJob]
    quotas: dict[str, Quota]
    updates: dict[str, JobUpdate]
    unreadable: dict[str, AuroraError]  # by store key: what could not be read back


class Repository:
    def __init__(self, store: Namespace, writer: WriteAhead) -> None:
        self.store = store
        self.writer = writer

    async def load(self) -> Loaded:
        loaded = Loaded({}, {}, {}, {})
        for key, data in await self.store.entries("jobs/"):
            try:
                job = job_of(_job.decode(data))
            except AuroraError as exc:
                loaded.unreadable[key] = exc
                continue
            loaded.jobs[job.key] = job
        for key, data in await self.store.entries("quota/"):
            try:
                loaded.quotas[key.removeprefix("quota/")] = quota_of(data)
            except AuroraError as exc:
                loaded.unreadable[key] = exc
        for key, data in await self.store.entries("updates/"):
            try:
                update = update_of(_update.decode(data))
            except AuroraError as exc:
                loaded.unreadable[key] = exc
                continue
            loaded.updates[update.id] = update
        return loaded

    def put_job(self, job: StoredJob) -> None:
        self.writer.put(f"jobs/{job.key}", lambda: msgspec.json.encode(document_of(job)))

    def delete_job(self, key: JobKey) -> None:
        self.writer.delete(f"jobs/{key}")

    def put_quota(self, role: str, quota: Quota) -> None:
        self.writer.put(f"quota/{role}", lambda: msgspec.json.encode(quota))

    def put_update(self, update: JobUpdate) -> None:
        self.writer.put(f"updates/{update.id}", lambda: msgspec.json.encode(update_document(update)))

    def delete_update(self, update_id: str) -> None:
        self.writer.delete(f"updates/{update_id}")
