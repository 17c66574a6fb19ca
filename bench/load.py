"""How much HTTP load does one `trireme serve` take on Marathon's /v2/apps, against the HTTP floor?

50 concurrent clients (each one keep-alive connection, sending its next request as soon as the
last is answered) run a mix for 60 s: GET /v2/apps (60%), POST /v2/apps of a new app with no
instance (20%: no process is launched, so this measures the API, the store and its durable
answers), and DELETE /v2/apps/<one of its own apps>?force=true (20%; a GET instead when it has
none). The same client then runs the same mix against a plain Starlette app on uvicorn that keeps
the apps in a dict (the HTTP floor), in the same run on the same machine. Reported for each:
requests per second, p50 and p99 latency, and the error rate (any answer but 200 to a GET or
DELETE and 201 to a POST, or a broken connection); then the ratios to the floor.

Both servers run from the start and take turns in slices (10 s each by default: floor, trireme,
floor, ...), so a change in what else the machine runs meanwhile weighs on both alike. At the end
of a slice each client deletes the apps it still has (not measured), so every slice starts from
the same state.

    python bench/load.py [--clients 50] [--seconds 60] [--slices 6] [--warmup 3]

The client speaks HTTP/1.1 over asyncio streams itself (a few microseconds per request, so it is
not what is measured); client and server share the machine's cores, for both targets alike.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.server import ServerProcess, free_port, serves

MIX = (("GET", 0.6), ("POST", 0.2), ("DELETE", 0.2))
EXPECTED = {"GET": 200, "POST": 201, "DELETE": 200}
RESOURCES = "cpus:4;mem:4096;disk:1000;ports:[31000-31100]"


# ---- the HTTP floor -----------------------------------------------------------------------------

def floor_app() -> object:
    """A plain Starlette app doing what the mix needs of /v2/apps, with the apps in a dict."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    apps: dict[str, dict[str, object]] = {}

    async def list_apps(request: Request) -> Response:
        return JSONResponse({"apps": list(apps.values())})

    async def create(request: Request) -> Response:
        app = json.loads(await request.body())
        if not isinstance(app, dict) or not isinstance(app.get("id"), str):
            return JSONResponse({"message": "id: required"}, status_code=422)
        if app["id"] in apps:
            return JSONResponse({"message": "exists"}, status_code=409)
        apps[app["id"]] = app
        return JSONResponse(app, status_code=201)

    async def delete(request: Request) -> Response:
        if apps.pop("/" + request.path_params["app_id"], None) is None:
            return JSONResponse({"message": "not found"}, status_code=404)
        return JSONResponse({"version": "2026-01-01T00:00:00.000Z", "deploymentId": "d"})

    return Starlette(routes=[Route("/v2/apps", list_apps, methods=["GET"]),
                             Route("/v2/apps", create, methods=["POST"]),
                             Route("/v2/apps/{app_id:path}", delete, methods=["DELETE"]),
                             Route("/ping", lambda r: Response("pong"))])


def serve_floor(port: int) -> None:
    import uvicorn

    # the same uvicorn settings as `trireme serve`
    uvicorn.run(floor_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)  # type: ignore[arg-type]


# ---- the client ---------------------------------------------------------------------------------

class Connection:
    """One keep-alive HTTP/1.1 connection; answers with Content-Length or chunked bodies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while (size := int((await self.reader.readline()).strip(), 16)) > 0:
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in EXPECTED})
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0


async def client(number: int, port: int, until: float, measure_from: float, tally: Tally, run: int) -> None:
    rng = random.Random(number * 1000 + run)
    conn = Connection(port)
    mine: list[str] = []
    sequence = 0
    while (now := time.perf_counter()) < until:
        method = rng.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
        if method == "DELETE" and not mine:
            method = "GET"
        body = b""
        if method == "GET":
            path = "/v2/apps"
        elif method == "POST":
            sequence += 1
            app_id = f"/load/r{run}-c{number}-{sequence}"
            path = "/v2/apps"
            body = json.dumps({"id": app_id, "cmd": "sleep 1000", "instances": 0, "cpus": 0.01, "mem": 16}).encode()
        else:
            app_id = mine.pop(rng.randrange(len(mine)))
            path = f"/v2/apps{app_id}?force=true"
        try:
            status = await conn.request(method, path, body)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            conn.close()
            status = -1
            error = type(exc).__name__
        else:
            error = str(status)
        elapsed = time.perf_counter() - now
        if method == "POST" and status == 201:
            mine.append(app_id)
        if now >= measure_from:
            tally.requests += 1
            tally.latencies[method].append(elapsed)
            if status != EXPECTED[method]:
                tally.errors[f"{method} {error}"] += 1
    for app_id in mine:  # leave nothing for the next slice
        await conn.request("DELETE", f"/v2/apps{app_id}?force=true")
    conn.close()


async def run_load(port: int, clients: int, seconds: float, warmup: float, tally: Tally, run: int) -> float:
    """One slice: `warmup` s of load, then `seconds` s measured into `tally`; the measured time."""
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + seconds
    await asyncio.gather(*(client(i, port, until, measure_from, tally, run) for i in range(clients)))
    return until - measure_from


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


# ---- the report ---------------------------------------------------------------------------------

def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


@dataclass
class Result:
    name: str
    tally: Tally
    elapsed: float

    @property
    def all_latencies(self) -> list[float]:
        return [x for values in self.tally.latencies.values() for x in values]

    @property
    def rate(self) -> float:
        return self.tally.requests / self.elapsed

    @property
    def error_rate(self) -> float:
        return sum(self.tally.errors.values()) / max(1, self.tally.requests)


def report(results: list[Result], clients: int, seconds: float) -> None:
    print(f"# bench/load.py  {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  clients={clients} "
          f"seconds={seconds:g} each, in turns  mix: " + ", ".join(f"{m} {w:.0%}" for m, w in MIX))
    print(f"{'target':<34} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>8}")
    for r in results:
        print(f"{r.name:<34} {r.tally.requests:>9} {r.rate:>8.0f} {quantile(r.all_latencies, 0.5):>8.1f} "
              f"{quantile(r.all_latencies, 0.99):>8.1f} {r.error_rate:>8.2%}")
    floor, trireme = results
    print(f"ratio trireme / floor: req/s {trireme.rate / floor.rate:.2f}, "
          f"p50 {quantile(trireme.all_latencies, 0.5) / quantile(floor.all_latencies, 0.5):.1f}x, "
          f"p99 {quantile(trireme.all_latencies, 0.99) / quantile(floor.all_latencies, 0.99):.1f}x")
    for r in results:
        by_method = "  ".join(f"{m} {len(v)} p50 {quantile(v, 0.5):.1f} p99 {quantile(v, 0.99):.1f}"
                              for m, v in r.tally.latencies.items())
        print(f"  {r.name}: {by_method}")
        if r.tally.errors:
            print(f"    errors: {dict(r.tally.errors.most_common())}")


def wait_until_serving(url: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {proc.returncode}")
        if serves(url):
            return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per target")
    parser.add_argument("--slices", type=int, default=6, help="turns each target's seconds are split into")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring")
    parser.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return

    port = free_port()
    floor = subprocess.Popen([sys.executable, __file__, "--serve-floor", str(port)])
    data = Path(tempfile.mkdtemp(prefix="trireme-load-")) / "data"
    server = ServerProcess(data, ["--kill-tasks-on-exit", "--agent-resources", RESOURCES, "--log-level", "warning"])
    targets = [("plain Starlette (the HTTP floor)", port), ("trireme serve (Marathon /v2/apps)", server.port)]
    tallies = {name: Tally() for name, _ in targets}
    elapsed = dict.fromkeys(tallies, 0.0)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/ping", floor)
        server.start()
        wait_until_serving(server.url + "/health", server.proc)  # Marathon has loaded its state
        with asyncio.Runner(loop_factory=new_loop) as runner:
            for run in range(args.slices):
                for name, target_port in targets:
                    warmup = args.warmup if run == 0 else 0.0
                    elapsed[name] += runner.run(run_load(target_port, args.clients, args.seconds / args.slices,
                                                         warmup, tallies[name], run))
    finally:
        floor.terminate()
        floor.wait()
        server.cleanup()
    report([Result(name, tallies[name], elapsed[name]) for name, _ in targets], args.clients, args.seconds)


if __name__ == "__main__":
    main()
