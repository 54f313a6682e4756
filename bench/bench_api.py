"""HTTP scoring throughput and latency: single transactions and batches, through `fraudwatch serve`.

Runs the API as its own process on a copy of the benchmark scenario (`scenario.py`: weeks of
simulated history stored in the embedded SQLite store, a LightGBM champion trained on it, the
24-rule starter set, the full default feature set warmed up from the history, persistence on),
creates a service key, and drives it with `wrk` (one client thread, so the client leaves the
other core to the server) with the traffic that follows the history: real customers, cards and
merchants, every request a new transaction, event times moving forward. Prints transactions/s
and request latency p50/p95/p99 per run and the medians.

    .venv/bin/python bench/bench_api.py [--seconds 10] [--runs 3] [--connections 32]
                                        [--store sqlite|postgres] [--projector in-process|off]
                                        [--load closed|open] [--rate 5000] [--batch-rate 10000]

Two kinds of load. `--load closed` (the default): wrk keeps `--connections` requests in flight,
each connection sending its next request when the last is answered: the most the server answers
at that concurrency. `--load open`: requests arrive at a fixed rate whatever the server does, as
payments do (`openloop.c`, wrk2's model, built with the machine's C compiler): `--rate` single
requests per second, `--batch-rate` transactions per second in batches; each latency counts from
the time its request was due, so a request that waited for a free connection counts its wait
(no coordinated omission). That answers "does it sustain this rate, with what p99?".

Needs `wrk` (Debian: `apt-get install wrk`) and, for `--load open`, a C compiler (`cc`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fraudwatch.devtools.postgres import throwaway_postgres
from fraudwatch.devtools.process import free_port

sys.path.insert(0, str(Path(__file__).parent))
from cpu import database_cpu_seconds, tree_cpu_seconds
from scenario import CACHE, Scenario, add_store_option, env_for, prepare

LUA = r"""
local key, batch, first, count = "@KEY@", @BATCH@, @FIRST@, @COUNT@
local lines, n, i = {}, 0, 0
for line in io.lines("@TRAFFIC@") do
  i = i + 1
  if i >= first then
    n = n + 1
    lines[n] = line
    if n >= count then break end
  end
end
local at = 0
local function next_line()
  at = at + 1
  return lines[((at - 1) % n) + 1]
end
request = function()
  local body, path
  if batch > 1 then
    local items = {}
    for k = 1, batch do items[k] = next_line() end
    body = '{"transactions":[' .. table.concat(items, ",") .. ']}'
    path = "/v1/transactions/score:batch"
  else
    body = next_line()
    path = "/v1/transactions/score"
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "errors": %d, ' ..
    '"p50": %f, "p95": %f, "p99": %f, "lines": %d}\n', summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    n))
end
"""


def _fraudwatch(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "fraudwatch.cli.main", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def drain(url: str, limit_s: float = 600.0) -> float:
    """Seconds until the server has stored every decision it made (its writer backlog is 0)."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit_s:
        if httpx.get(f"{url}/readyz", timeout=10).json().get("writer_backlog", 0) == 0:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def single_batches(url: str) -> tuple[float, float]:
    """(requests, batches) of single-transaction scoring so far, from /metrics."""
    values = {}
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("fraudwatch_single_batch_size_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return (
        values.get("fraudwatch_single_batch_size_sum", 0.0),
        values.get("fraudwatch_single_batch_size_count", 0.0),
    )


class Traffic:
    """Hands out consecutive, never reused slices of the scenario's traffic file, so every
    request carries a new transaction and event times only move forward."""

    def __init__(self, scenario: Scenario) -> None:
        self.path = scenario.traffic
        self.total = scenario.transactions
        self.next = 1  # 1-based line number, as Lua counts

    def load(
        self, url: str, key: str, batch: int, seconds: int, connections: int, cap: int
    ) -> dict[str, float]:
        count = min(cap, self.total - self.next + 1)
        if count < batch * connections:
            sys.exit(f"the scenario's traffic is used up ({self.total:,} transactions)")
        script_text = (
            LUA.replace("@KEY@", key)
            .replace("@BATCH@", str(batch))
            .replace("@FIRST@", str(self.next))
            .replace("@COUNT@", str(count))
            .replace("@TRAFFIC@", str(self.path))
        )
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(script_text)
        before = _children_cpu()
        try:
            out = subprocess.run(
                ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
        finally:
            Path(script.name).unlink()
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
        sent = int(result["requests"]) * batch + connections * batch  # + the ones in flight
        result["reused"] = max(0, sent - count)  # beyond the slice: answered idempotently
        result["client_cpu"] = _children_cpu() - before
        self.next += min(sent, count)
        return result

    def offer(
        self, url: str, key: str, batch: int, rate: float, seconds: int, connections: int
    ) -> dict[str, float]:
        """`rate` requests per second of `batch` transactions for `seconds`, open-loop."""
        requests = int(rate * seconds)
        if self.next - 1 + requests * batch > self.total:
            sys.exit(f"the scenario's traffic is used up ({self.total:,} transactions)")
        host, port = url.removeprefix("http://").split(":")
        path = "/v1/transactions/score" if batch == 1 else "/v1/transactions/score:batch"
        command = [str(openloop()), host, port, path, str(self.path), str(self.next),
                   str(batch), str(rate), str(seconds), str(connections)]  # fmt: skip
        env = {"PATH": "/usr/bin:/bin", "OPENLOOP_KEY": key}
        before = _children_cpu()
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("RESULT "))
        self.next += requests * batch
        result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
        result["client_cpu"] = _children_cpu() - before
        return result


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the load generator of a run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def openloop() -> Path:
    """The open-loop load generator (`openloop.c`), compiled once into the benchmark cache."""
    source = Path(__file__).with_name("openloop.c")
    binary = CACHE / "bin" / "openloop"
    if not binary.exists() or binary.stat().st_mtime < source.stat().st_mtime:
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            sys.exit("bench_api --load open needs a C compiler (cc) to build openloop.c")
        binary.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([compiler, "-O2", "-o", str(binary), str(source)], check=True)
    return binary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--cap", type=int, default=150_000, help="transactions per run at most")
    parser.add_argument("--rules-only", action="store_true", help="no model (rules and policy)")
    add_store_option(parser)
    parser.add_argument(
        "--projector",
        choices=("in-process", "off"),
        default="in-process",
        help="the dashboard's rollup projector: inside the server (the embedded default), or off "
        "(a scoring-only node; `fraudwatch projector` runs elsewhere)",
    )
    parser.add_argument(
        "--commit-interval",
        type=float,
        help="the server's store_commit_interval_s (default: the setting's default)",
    )
    parser.add_argument(
        "--only", choices=("single", "batch"), help="run one of the two scenarios, not both"
    )
    parser.add_argument(
        "--load",
        choices=("closed", "open"),
        default="closed",
        help="closed: wrk, `--connections` requests in flight (the most answered); open: "
        "requests at a fixed rate, latency from when each was due (the module's docstring)",
    )
    parser.add_argument(
        "--rate", type=float, default=5000, help="--load open: single requests per second"
    )
    parser.add_argument(
        "--batch-rate",
        type=float,
        default=10_000,
        help="--load open: transactions per second in batches of --batch",
    )
    parser.add_argument(
        "--open-connections",
        type=int,
        default=128,
        help="--load open: connections for single requests (batches: --batch-connections "
        "times 4); a request due while all are busy waits, and its wait counts",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_api needs wrk: apt-get install wrk")
    scenario = prepare()
    traffic = Traffic(scenario)
    home = scenario.copy_home(Path(tempfile.mkdtemp(prefix="fw-bench-api-")) / "home")
    env = env_for(home)
    if args.projector == "off":
        env["FRAUDWATCH_DASHBOARD_PROJECTOR"] = "false"
    if args.commit_interval is not None:
        env["FRAUDWATCH_STORE_COMMIT_INTERVAL_S"] = str(args.commit_interval)
    if args.rules_only:
        env["FRAUDWATCH_MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'no-models.db'}"
    with contextlib.ExitStack() as stack:
        database = None
        if args.store == "postgres":
            database = stack.enter_context(throwaway_postgres(shared_buffers="512MB", durable=True))
            env["FRAUDWATCH_DATABASE_URL"] = database
            scenario.load_history(env)
        run(args, scenario, traffic, home, env, database)


def run(
    args: argparse.Namespace,
    scenario: Scenario,
    traffic: Traffic,
    home: Path,
    env: dict[str, str],
    database: str | None,
) -> None:
    key = json.loads(_fraudwatch(env, "apikey", "create", "--role", "service", "--json"))["key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(3000):  # up to 10 minutes: warming up reads the stored history
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                sys.exit(f"fraudwatch serve exited: see {home / 'server.log'}")
            time.sleep(0.2)
        ready = httpx.get(f"{url}/readyz").json()
        if "mode" not in ready:
            sys.exit(f"fraudwatch serve is not ready: {ready}")
        store = (
            "PostgreSQL (a throwaway server, fsync and synchronous commit on)"
            if database
            else "SQLite"
        )
        if args.load == "closed":
            load = (f"closed loop: wrk 1 thread, {args.connections} connections (batches of "
                    f"{args.batch}: {args.batch_connections})")  # fmt: skip
        else:
            load = (f"open loop (openloop.c): {args.rate:,.0f} single requests/s on up to "
                    f"{args.open_connections} connections, {args.batch_rate:,.0f} transactions/s "
                    f"in batches of {args.batch} on up to {4 * args.batch_connections}; latency "
                    "from when each request was due")  # fmt: skip
        print(f"data: {scenario.description}")
        print(f"fraudwatch serve: mode {ready['mode']}, rules {ready['rules_version']}, "
              f"features warmed up on the stored history, default features, {store} persistence "
              f"on, dashboard projector {args.projector}; {load}, {args.seconds} s per run, "
              f"{args.runs} runs, every transaction new")  # fmt: skip
        traffic.load(url, key, 1, 3, args.connections, 30_000)  # warm-up: JIT, caches
        scenarios = [("single", 1), (f"batch of {args.batch}", args.batch)]
        if args.only is not None:
            scenarios = scenarios[:1] if args.only == "single" else scenarios[1:]
        for label, batch in scenarios:
            rates, stored_rates, p50s, p95s, p99s = [], [], [], [], []
            for run in range(args.runs):
                drain(url)  # every run starts with nothing waiting to be stored
                server_cpu, writer_cpu = tree_cpu_seconds(server.pid)
                database_cpu = database_cpu_seconds(database)
                before = single_batches(url)
                if args.load == "closed":
                    connections = args.connections if batch == 1 else args.batch_connections
                    r = traffic.load(url, key, batch, args.seconds, connections, args.cap)
                    scored = max(1, r["requests"] * batch)
                    took = r["seconds"]
                    reused = f", {int(r['reused']):,} repeated" if r["reused"] else ""
                else:
                    per_s = args.rate if batch == 1 else args.batch_rate / batch
                    connections = (
                        args.open_connections if batch == 1 else 4 * args.batch_connections
                    )
                    r = traffic.offer(url, key, batch, per_s, args.seconds, connections)
                    scored = max(1, int(r["answered"]) * batch)
                    took = r["span"]  # from the first request due to the last answer
                    reused = (f", offered {per_s * batch:,.0f}/s, {int(r['answered']):,} of "
                              f"{int(r['requests']):,} requests answered, p99.9 {r['p999']:.1f} "
                              f"ms, max {r['max']:.1f} ms, p50 of the first / last quarter of "
                              f"the requests {r['first_quarter_p50']:.1f} / "
                              f"{r['last_quarter_p50']:.1f} ms (alike when the server keeps up), "
                              f"{int(r['late_sends']):,} requests sent over 1 ms late (every "
                              f"connection busy, or the client off the CPU; at most "
                              f"{r['max_send_delay_ms']:.1f} ms)")  # fmt: skip
                drained = drain(url)
                rate = scored / took
                stored_rate = scored / (took + drained)
                server_after, writer_after = tree_cpu_seconds(server.pid)
                cpu_us = 1e6 * (server_after - server_cpu) / scored
                writer_us = 1e6 * (writer_after - writer_cpu) / scored
                database_us = 1e6 * (database_cpu_seconds(database) - database_cpu) / scored
                client_us = 1e6 * r["client_cpu"] / scored
                on_database = f", PostgreSQL {database_us:.0f} µs" if database else ""
                rates.append(rate)
                stored_rates.append(stored_rate)
                p50s.append(r["p50"])
                p95s.append(r["p95"])
                p99s.append(r["p99"])
                if batch == 1:
                    after = single_batches(url)
                    together = (after[0] - before[0]) / max(1.0, after[1] - before[1])
                    reused += f", {together:.1f} requests scored together on average"
                print(f"{label} run {run + 1}: {rate:,.0f} transactions/s answered, "
                      f"{stored_rate:,.0f}/s stored (the writer took {drained:.1f} s more), "
                      f"request latency p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, "
                      f"p99 {r['p99']:.1f} ms, {int(r['errors'])} errors{reused}; CPU per "
                      f"transaction: server {cpu_us:.0f} µs, writer process {writer_us:.0f} µs"
                      f"{on_database}, load generator {client_us:.0f} µs",
                      flush=True)  # fmt: skip
            median = statistics.median
            print(f"{label} median of {args.runs}: {median(rates):,.0f} transactions/s answered, "
                  f"{median(stored_rates):,.0f}/s stored, "
                  f"p50 {median(p50s):.1f} ms, p95 {median(p95s):.1f} ms, "
                  f"p99 {median(p99s):.1f} ms", flush=True)  # fmt: skip
        stats = httpx.get(f"{url}/readyz").json()
        print(f"writer backlog at the end: {stats.get('writer_backlog')}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)  # it stores what it still holds first
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
