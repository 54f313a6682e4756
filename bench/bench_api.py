"""HTTP scoring throughput and latency: single transactions and batches, through `fraudwatch serve`.

Starts the API as its own process on a fresh embedded deployment (SQLite store, persistence on,
the 24-rule starter set, the full default feature set; a trained model when `--model-home` points
at a home that has one), creates a service key, and drives it with `wrk` (one client thread, so
the client leaves the other core to the server): unique transaction ids, 50,000 cards, 40,000
customers, 2,000 merchants. Prints requests/s (transactions/s for batches) and p50/p95/p99 per
run and the medians.

    .venv/bin/python bench/bench_api.py [--seconds 15] [--runs 3] [--connections 32]

Needs `wrk` (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fraudwatch.devtools.process import free_port

LUA = r"""
math.randomseed(os.time() + math.floor(os.clock() * 1000000))
local run = math.random(1, 1000000000)
local counter = 0
local key = "@KEY@"
local batch = @BATCH@
local function tx()
  counter = counter + 1
  return string.format(
    '{"transaction_id":"b%d-%d-%d","event_time":"%s","amount":"%d.%02d","currency":"EUR",' ..
    '"card":{"token":"tok_%032d"},"customer_id":"c%d","merchant":{"id":"m%d","country":"NL",' ..
    '"mcc":"5411"},"channel":"ecommerce","ip_address":"81.2.69.%d"}',
    run, math.random(1, 1000000000), counter, os.date("!%Y-%m-%dT%H:%M:%SZ"),
    math.random(1, 900), math.random(0, 99), math.random(1, 50000), math.random(1, 40000),
    math.random(1, 2000), math.random(1, 250))
end
request = function()
  local body, path
  if batch > 1 then
    local items = {}
    for i = 1, batch do items[i] = tx() end
    body = '{"transactions":[' .. table.concat(items, ",") .. ']}'
    path = "/v1/transactions/score:batch"
  else
    body = tx()
    path = "/v1/transactions/score"
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %d, "seconds": %f, "errors": %d, ' ..
    '"p50": %f, "p95": %f, "p99": %f}\n', summary.requests, summary.duration / 1e6,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"""


def _fraudwatch(env: dict[str, str], *args: str) -> str:
    command = [sys.executable, "-m", "fraudwatch.cli.main", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def _load(url: str, key: str, batch: int, seconds: int, connections: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.replace("@KEY@", key).replace("@BATCH@", str(batch)))
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
    finally:
        Path(script.name).unlink()
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--model-home", type=Path, help="a FRAUDWATCH_HOME with a trained model")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_api needs wrk: apt-get install wrk")
    home = Path(tempfile.mkdtemp(prefix="fw-bench-api-"))
    if args.model_home:
        shutil.copytree(args.model_home, home, dirs_exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDWATCH_")}
    env.update(FRAUDWATCH_HOME=str(home), FRAUDWATCH_WARMUP_DAYS="0")
    key = json.loads(_fraudwatch(env, "apikey", "create", "--role", "service", "--json"))["key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch.cli.main", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        ready = httpx.get(f"{url}/readyz").json()
        print(f"fraudwatch serve: mode {ready['mode']}, rules {ready['rules_version']}, "
              f"default features, SQLite persistence on; wrk 1 thread, {args.connections} "
              f"connections (batches: {args.batch_connections}), {args.seconds} s per run, "
              f"{args.runs} runs")  # fmt: skip
        _load(url, key, 1, 3, args.connections)  # warm-up: JIT, caches
        for label, batch in (("single", 1), (f"batch of {args.batch}", args.batch)):
            rates, p50s, p95s, p99s = [], [], [], []
            for run in range(args.runs):
                connections = args.connections if batch == 1 else args.batch_connections
                r = _load(url, key, batch, args.seconds, connections)
                rate = r["requests"] * batch / r["seconds"]
                rates.append(rate)
                p50s.append(r["p50"])
                p95s.append(r["p95"])
                p99s.append(r["p99"])
                print(f"{label} run {run + 1}: {rate:,.0f} transactions/s, request latency "
                      f"p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, "
                      f"{int(r['errors'])} errors")  # fmt: skip
            median = statistics.median
            print(f"{label} median of {args.runs}: {median(rates):,.0f} transactions/s, "
                  f"p50 {median(p50s):.1f} ms, p95 {median(p95s):.1f} ms, "
                  f"p99 {median(p99s):.1f} ms")  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)  # it stores what it still holds first
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
