"""Chronos' REST API under `/scheduler` (2.x) and `/v1/scheduler` (3.x). Starlette routes with
prebuilt JSON responses. Errors have the shape of Chronos' ApiResult: bad input is 400 with
`{"status": "Bad Request", "message": ...}`, the message naming the field.

Authorization (`core.security`): a job is the resource `chronos:<name>` with its owners (the
comma-separated `owner` addresses) as attributes, so a role's grant names a job name prefix
(`nightly-*`) or an owner. Showing a job needs view, creating or replacing it update (on the
definition posted and on the one it replaces), a manual run, a success mark, a kill of its tasks
or an async status update, delete to delete it. Lists, search, statistics and graphs show only
the jobs the caller may view. A refusal is 403 `{"status": "Forbidden", "message": ...}`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from chronos_py.model import Job, job_of_task_id
from chronos_py.report import PERCENTILES, graph_csv, graph_dot, job_stat, stats
from chronos_py.service import JobService, UnknownJob
from chronos_py.validation import JobError, split_arguments
from core.framework import ServerInfo
from core.framework.ready import Readiness
from core.security import Action, Resource, access_of
from core.server.body import InvalidJSON, read_json

Handler = Callable[[Request], Awaitable[Response]]
PREFIXES = ("/scheduler", "/v1/scheduler")


def bad_request(message: str) -> Response:
    return JSONResponse({"status": "Bad Request", "message": message}, status_code=400)


def not_found(message: str) -> Response:
    return JSONResponse({"status": "Not Found", "message": message}, status_code=404)


def forbidden(message: str) -> Response:
    return JSONResponse({"status": "Forbidden", "message": message}, status_code=403)


def job_resource(job: Job) -> Resource:
    """The job as authorization sees it: its name, and its owners (Chronos' `owner` is a
    comma-separated list of addresses)."""
    owners = tuple(o.strip() for o in job.owner.split(",") if o.strip())
    return Resource("chronos", job.name, {"owner": owners})


def require(request: Request, action: Action, job: Job) -> None:
    """Return if the caller may act on the job, else raise `Denied` (answered 403 by the server)."""
    access_of(request).require(action, job_resource(job), forbidden)


def unavailable(message: str) -> dict[str, Any]:
    return {"status": "Service Unavailable", "message": message}


def guarded(ready: Readiness, handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        if not ready.ready:
            return ready.not_ready()
        try:
            return await handler(request)
        except JobError as exc:
            return bad_request(str(exc))
        except UnknownJob as exc:
            return not_found(f"job '{exc.args[0]}' does not exist")
    return wrapped


class ChronosAPI:
    """The routes exist from the start; they answer 503 until a scheduler is loaded (`use`)."""

    def __init__(self) -> None:
        self._service: JobService | None = None
        self.server: ServerInfo | None = None
        self.ready = Readiness("Chronos", unavailable)

    def use(self, service: JobService | None) -> None:
        self._service = service

    @property
    def service(self) -> JobService:
        assert self._service is not None, "routes answer 503 until a scheduler is in use"
        return self._service

    def resource_of_task(self, task_id: str) -> Resource | None:
        """The job a task (running or ended) ran, as the routes check it (with its owners);
        None while no scheduler is loaded or when no such job is known."""
        job = self._service.jobs.get(job_of_task_id(task_id)) if self._service is not None else None
        return job_resource(job) if job is not None else None

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, Handler, list[str]]] = [
            ("/iso8601", self.put_scheduled, ["POST", "PUT"]),
            ("/dependency", self.put_dependent, ["POST", "PUT"]),
            ("/jobs", self.list_jobs, ["GET"]),
            ("/jobs/search", self.search, ["GET"]),
            ("/job/stat/{name}", self.job_stat, ["GET"]),
            ("/job/success/{name}", self.job_success, ["PUT", "POST"]),
            ("/job/{name}", self.get_job, ["GET"]),
            ("/job/{name}", self.run_job, ["PUT", "POST"]),
            ("/job/{name}", self.delete_job, ["DELETE"]),
            ("/task/kill/{name}", self.kill_tasks, ["DELETE"]),
            ("/task/{taskId}", self.task_status, ["PUT", "POST"]),
            ("/stats/{percentile}", self.stats, ["GET"]),
            ("/graph/dot", self.dot, ["GET"]),
            ("/graph/csv", self.csv, ["GET"]),
            ("/leader", self.leader, ["GET"]),
        ]
        return [Route(prefix + path, guarded(self.ready, handler), methods=methods)
                for prefix in PREFIXES for path, handler, methods in table]

    @staticmethod
    def render(job: Job) -> dict[str, Any]:
        """A job as Chronos' JobSerializer writes it: `parents` for a dependent job, `schedule` and
        `scheduleTimeZone` for a scheduled one (never both, so that a client can post what it
        read back to the same endpoint), and `container` only when there is one."""
        out: dict[str, Any] = msgspec.to_builtins(job)
        if job.parents:
            out.pop("schedule", None)
            out.pop("scheduleTimeZone", None)
        else:
            out.pop("parents", None)
        if out.get("container") is None:
            out.pop("container", None)
        return out

    async def _body(self, request: Request) -> Any:
        try:
            return await read_json(request)
        except InvalidJSON as exc:
            if str(exc) == exc.msg:  # the reader's own refusal, naming the field (`cpus: NaN is not ...`)
                raise JobError(exc.msg) from None
            raise JobError(f"body: not valid JSON ({exc})") from None

    def visible(self, request: Request) -> dict[str, Job]:
        """The jobs the caller may view, by name."""
        access = access_of(request)
        return {name: job for name, job in self.service.jobs.items()
                if access.allows(Action.VIEW, job_resource(job))}

    def job(self, request: Request, action: Action) -> Job:
        """The job named in the path, if the caller may act on it (unknown: 404; denied: 403)."""
        job = self.service.get(request.path_params["name"])
        require(request, action, job)
        return job

    async def put_scheduled(self, request: Request) -> Response:
        body = await self._body(request)
        await self.service.put(body, dependent=False, authorize=lambda job: require(request, Action.UPDATE, job))
        return Response(status_code=204)

    async def put_dependent(self, request: Request) -> Response:
        body = await self._body(request)
        await self.service.put(body, dependent=True, authorize=lambda job: require(request, Action.UPDATE, job))
        return Response(status_code=204)

    async def list_jobs(self, request: Request) -> Response:
        return JSONResponse([self.render(j) for _, j in sorted(self.visible(request).items())])

    async def search(self, request: Request) -> Response:
        q = request.query_params
        name, command, anything = (q.get(k, "").lower() for k in ("name", "command", "any"))
        found = []
        for job_name, job in sorted(self.visible(request).items()):
            text = " ".join((job.name, job.command, job.description, job.owner)).lower()
            if (name and name not in job_name.lower()) or (command and command not in job.command.lower()):
                continue
            if anything and anything not in text:
                continue
            found.append(self.render(job))
        try:
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", str(len(found))))
        except ValueError:
            return bad_request("limit/offset: must be integers")
        return JSONResponse(found[offset:offset + limit])

    async def get_job(self, request: Request) -> Response:
        return JSONResponse(self.render(self.job(request, Action.VIEW)))

    async def run_job(self, request: Request) -> Response:
        job = self.job(request, Action.UPDATE)
        arguments = split_arguments(request.query_params.getlist("arguments"))
        await self.service.start_now(job.name, arguments)
        return Response(status_code=204)

    async def delete_job(self, request: Request) -> Response:
        await self.service.delete(self.job(request, Action.DELETE).name)
        return Response(status_code=204)

    async def job_success(self, request: Request) -> Response:
        await self.service.mark_success(self.job(request, Action.UPDATE).name)
        return Response(status_code=204)

    async def job_stat(self, request: Request) -> Response:
        name = self.job(request, Action.VIEW).name
        return JSONResponse(job_stat(self.service.scheduler.history.get(name, [])))

    async def kill_tasks(self, request: Request) -> Response:
        await self.service.kill_tasks(self.job(request, Action.UPDATE).name)
        return Response(status_code=204)

    async def task_status(self, request: Request) -> Response:
        body = await self._body(request)
        code = body.get("statusCode") if isinstance(body, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            return bad_request("statusCode: expected an integer (0 for success)")
        task_id = request.path_params["taskId"]
        job = self.service.job_of_task(task_id)
        if job is not None:
            require(request, Action.UPDATE, job)
        if job is None or not await self.service.async_status(task_id, code):
            return not_found(f"task '{task_id}' is not running")
        return Response(status_code=204)

    async def stats(self, request: Request) -> Response:
        key = request.path_params["percentile"]
        if key not in PERCENTILES:
            return bad_request(f"percentile: must be one of {', '.join(PERCENTILES)}")
        history = self.service.scheduler.history
        return JSONResponse(stats({name: history[name] for name in self.visible(request) if name in history}, key))

    async def dot(self, request: Request) -> Response:
        return PlainTextResponse(graph_dot(self.visible(request)))

    async def csv(self, request: Request) -> Response:
        sched = self.service.scheduler
        states = {r.job: "queued" for r in sched.waiting.values()}
        states.update({r.job: "running" for r in sched.running.values()})
        return PlainTextResponse(graph_csv(self.visible(request), states))

    async def leader(self, request: Request) -> Response:
        where = f"{self.server.host}:{self.server.port}" if self.server else ""
        return JSONResponse({"leader": where})
