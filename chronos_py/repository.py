"""Chronos' state in the core store: one key per job (its definition, counters and schedule
position together, so they change atomically), one per job's bounded run history, and the
framework id."""

from __future__ import annotations

import json
import logging
from typing import Any

from core.store import Namespace
from core.store.base import Delete, Op, Put

JSON = dict[str, Any]
log = logging.getLogger(__name__)
HISTORY_LIMIT = 100  # runs kept per job


class Repository:
    def __init__(self, store: Namespace) -> None:
        self.store = store

    async def load_jobs(self) -> tuple[dict[str, JSON], dict[str, JSON], dict[str, list[JSON]]]:
        """(definitions, schedule/dependency state, histories), by job name."""
        jobs: dict[str, JSON] = {}
        states: dict[str, JSON] = {}
        histories: dict[str, list[JSON]] = {}
        for key in await self.store.list("jobs/"):
            entry = await self.store.get(key)
            if entry is None:
                continue
            try:
                record = json.loads(entry.value)
                job, state = record["job"], record.get("state") or {}
                name = job["name"]
                if not isinstance(name, str) or not isinstance(state, dict):
                    raise TypeError("name or state of the wrong type")
            except (ValueError, KeyError, TypeError) as exc:  # one bad record never stops the others
                log.error("chronos: the stored job %s cannot be read and is left out: %r", key, exc)
                continue
            jobs[name] = job
            states[name] = state
        for key in await self.store.list("history/"):
            entry = await self.store.get(key)
            if entry is not None:
                try:
                    runs = json.loads(entry.value)
                except ValueError:
                    log.error("chronos: the stored history %s cannot be read and is left out", key)
                    continue
                histories[key.split("/", 1)[1]] = runs if isinstance(runs, list) else []
        return jobs, states, histories

    @staticmethod
    def put_job(job: JSON, state: JSON) -> Op:
        return Put(f"jobs/{job['name']}", json.dumps({"job": job, "state": state}).encode())

    @staticmethod
    def put_history(name: str, runs: list[JSON]) -> Op:
        return Put(f"history/{name}", json.dumps(runs[-HISTORY_LIMIT:]).encode())

    @staticmethod
    def delete_job(name: str) -> list[Op]:
        return [Delete(f"jobs/{name}"), Delete(f"history/{name}")]

    @staticmethod
    def put_queue(runs: list[JSON]) -> Op:
        return Put("queue", json.dumps(runs).encode())

    async def load_queue(self) -> list[JSON]:
        """Runs that were due and waiting for an offer when the state was last saved."""
        entry = await self.store.get("queue")
        return list(json.loads(entry.value)) if entry else []

    async def commit(self, ops: list[Op]) -> None:
        if ops:
            await self.store.commit(ops)

    async def durable(self) -> None:
        await self.store.durable()

    async def framework_id(self) -> str:
        entry = await self.store.get("framework_id")
        return entry.value.decode() if entry else ""

    async def save_framework_id(self, framework_id: str) -> None:
        await self.store.commit([Put("framework_id", framework_id.encode())])
