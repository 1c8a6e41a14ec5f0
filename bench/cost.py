"""What a check costs: the pipeline against a bare Celery app, and against a plain loop.

    python bench/cost.py [--checks 40] [--sites 500] [--output report.json]   (make bench)

One JSON report on stdout (and in --output), a table on stderr. On the 2-core machine:

1. latency, QRS answer -> last of 9 deliveries (6 webhooks, MQTT status and alert, one
   InfluxDB point), single-site checks sent one at a time, for each pool: the pipeline
   (`celery -A worker worker`) vs bench/bare_app.py (same Celery settings and I/O, nothing
   else), both with task events as `--task-events` says (on: as deployed, for Flower);
2. Redis commands per delivery, with MONITOR: from the LPUSH of the fetch message to the
   acknowledgement of the last delivery, commands inside Lua scripts counted, / 9;
   pipeline with `licmon.broker.taskEvents` true and false, bare app without and with
   task events;
3. throughput, 500 sites through the pipeline vs a sequential loop (bench/pipeline.py),
   with every process's file descriptors;
4. memory of a one-site deployment, beat + worker (bench/footprint.py), threads -c 8 and
   prefork -c 2, from the Flower-less `.venv-lean` when it exists;
5. the harness's own overheads, measured first: what each clock adds.

Every time is taken from the outside (bench/harness.py); nothing reads the result backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests
from common import (
    BENCH,
    BROKER_URL,
    MQTT_HOST,
    MQTT_PORT,
    PREFIX,
    RESULT_BACKEND,
    Estate,
    estate,
    fetch,
    host_port,
    lean_python,
    redis_db,
    require_services,
    set_task_events,
    start_bare_worker,
    stop,
    summary_ms,
    wait_drained,
)
from harness import (
    ChainOnlyAdapter,
    CpuMeter,
    cpu_seconds,
    listening_pids,
    monitoring,
    now,
    start_timed_simulator,
)
from paho.mqtt.enums import CallbackAPIVersion
from pipeline import throughput

from tests.pipeline_support import INFLUX_DB, in_days

DELIVERIES = 9  # 3 status + 3 alert webhooks, MQTT status + alert, one InfluxDB point
WARMUP = 3
# Between checks, after the last acknowledgement: the worker is idle, as between real checks.
GAP = 0.1
# More CPU than this used by other processes during a phase makes its figures suspect.
NOISY_CORES = 0.25


# --- harness overheads -----------------------------------------------------------------------


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def simulator_overhead(world: Estate, runs: int = 30) -> dict[str, Any]:
    """Kept-alive GET /qrs/license: the stock simulator vs the timed one; and how long after
    the timed one's stamp the client holds the answer."""
    from licmon.simulator import SimulatedLicense, SiteSpec, run_simulator

    certs = world.simulator.certs

    def session() -> requests.Session:
        http = requests.Session()
        http.mount("https://", ChainOnlyAdapter(max_retries=0))
        http.cert = (str(certs.client_cert), str(certs.client_key))
        return http

    def get(http: requests.Session, port: int) -> float:
        key = "abcdefghijklmnop"
        started = now()
        answer = http.get(
            f"https://127.0.0.1:{port}/qrs/license",
            params={"xrfkey": key},
            headers={"X-Qlik-Xrfkey": key},
            verify=str(certs.root_ca),
            timeout=10,
        )
        answer.raise_for_status()
        return now() - started

    license_ = SimulatedLicense(valid_to=[in_days(30)])
    with run_simulator([SiteSpec("stock", license=license_)], certs) as stock:
        http = session()
        port = stock.sites["stock"].port
        stock_times = [get(http, port) for _ in range(runs + 2)][2:]
    timed, answers = start_timed_simulator([("timed", license_)], certs)
    try:
        http = session()
        port = timed.sites["timed"].port
        timed_times, gaps = [], []
        for _ in range(runs + 2):
            elapsed = get(http, port)
            done = now()
            timed_times.append(elapsed)
            gaps.append(done - (answers.last("timed") or done))
        timed_times, gaps = timed_times[2:], gaps[2:]
    finally:
        timed.close()
    return {
        "stock_simulator_kept_alive_get_ms": _median_ms(stock_times),
        "timed_simulator_kept_alive_get_ms": _median_ms(timed_times),
        "answer_stamp_to_client_has_answer_ms": _median_ms(gaps),
        "note": "stock: headers and body in two writes with Nagle on, so the body waits "
        "for the client's delayed ACK on a kept-alive connection; the bench's simulator "
        "answers in one write with TCP_NODELAY (harness.start_timed_simulator)",
    }


def receiver_overhead(world: Estate, runs: int = 50) -> dict[str, Any]:
    http = requests.Session()
    url = world.receiver.url("/overhead")
    round_trips, stamps = [], []
    for _ in range(runs + 2):
        started = now()
        http.post(url, json={"event": "x", "daysUntilExpiry": 30}, timeout=5).raise_for_status()
        round_trips.append(now() - started)
        stamps.append(world.receiver.received("/overhead")[-1].at - started)
    world.receiver.requests.clear()
    return {
        "kept_alive_post_round_trip_ms": _median_ms(round_trips[2:]),
        "post_start_to_arrival_stamp_ms": _median_ms(stamps[2:]),
    }


def mqtt_overhead(world: Estate, runs: int = 30) -> dict[str, Any]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    connected = threading.Event()
    client.on_connect = lambda *args: connected.set()
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    connected.wait(10)
    pubacks, stamps, second_pubacks = [], [], []
    try:
        for i in range(runs + 2):
            since = now()
            info = client.publish(f"{PREFIX}/overhead/o{i}", "x" * 120, qos=1)
            info.wait_for_publish(5)
            pubacks.append(now() - since)
            deadline = now() + 5
            while not (seen := world.mqtt.arrivals(since)) and now() < deadline:
                time.sleep(0.0005)
            stamps.append(seen[0].at - since)
        for i in range(runs):
            # Two at once from one connection, as the status and alert tasks of a threads
            # pool do: does the second PUBACK wait for an ACK (Nagle on the broker)?
            since = now()
            first = client.publish(f"{PREFIX}/overhead/p{i}", "x" * 120, qos=1)
            second = client.publish(f"{PREFIX}/overhead/p{i}", "y" * 60, qos=1)
            first.wait_for_publish(5)
            second.wait_for_publish(5)
            second_pubacks.append(now() - since)
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    return {
        "publish_qos1_to_puback_ms": _median_ms(pubacks[2:]),
        "publish_to_subscriber_stamp_ms": _median_ms(stamps[2:]),
        "two_publishes_to_second_puback_ms": _median_ms(second_pubacks),
        "two_publishes_to_second_puback_max_ms": round(max(second_pubacks) * 1000, 2),
    }


def influx_overhead(world: Estate, runs: int = 30) -> dict[str, Any]:
    world.influx.query(f'CREATE DATABASE "{INFLUX_DB}"')
    http = requests.Session()
    direct, forwarded, stamps = [], [], []
    base = int(time.time())
    for i in range(runs + 2):
        line = f"overhead,site=o{i} v=1i {base + i}"
        for url, into in (
            (world.influx.url, direct),
            (f"http://127.0.0.1:{world.forwarder.port}", forwarded),
        ):
            started = now()
            answer = http.post(
                f"{url}/write", params={"db": INFLUX_DB, "precision": "s"}, data=line, timeout=5
            )
            answer.raise_for_status()
            into.append(now() - started)
            if into is forwarded:
                stamps.append(world.forwarder.arrivals(started)[-1].at - started)
    world.influx.query('DROP MEASUREMENT "overhead"', db=INFLUX_DB)
    return {
        "write_direct_to_influxd_ms": _median_ms(direct[2:]),
        "write_through_forwarder_ms": _median_ms(forwarded[2:]),
        "write_start_to_stored_stamp_ms": _median_ms(stamps[2:]),
    }


def harness_overheads(world: Estate) -> dict[str, Any]:
    return {
        "qrs_simulator": simulator_overhead(world),
        "webhook_receiver": receiver_overhead(world),
        "mqtt_subscriber": mqtt_overhead(world),
        "influxdb_forwarder": influx_overhead(world),
    }


# --- latency and Redis commands --------------------------------------------------------------


def latency_run(world: Estate, checks: int, label: str) -> dict[str, list[float]]:
    """`checks` single-site checks, one at a time: each is sent once the previous one's
    messages are all acknowledged, plus GAP seconds. Seconds, raw."""
    (site,) = world.site_names
    raw: dict[str, list[float]] = defaultdict(list)
    _, worker, log = world.deployment.processes[-1]  # the worker just started
    wait_drained()
    for i in range(WARMUP + checks):
        if i == WARMUP:
            offset = log.stat().st_size
            cpu = cpu_seconds(worker.pid)
        time.sleep(GAP)
        since = now()
        fetch(site, f"{site}@{label}-{i}")
        arrived = world.arrivals.wait(site, DELIVERIES, since, timeout=60)
        wait_drained()
        answered = world.answers.first(site, since)
        if answered is None:
            raise RuntimeError(f"{label}: no QRS answer for check {i}")
        raw["extra"].append(len(world.arrivals.since(since)) - DELIVERIES)
        if i < WARMUP:
            continue
        offsets = sorted(a.at - answered for a in arrived)
        raw["last"].append(offsets[-1])
        raw["first"].append(offsets[0])
        raw["send_to_answer"].append(answered - since)
        for kind in ("webhook", "mqtt", "influxdb"):
            raw[kind].append(max(a.at for a in arrived if a.kind == kind) - answered)
    raw["worker_cpu"].append((cpu_seconds(worker.pid) - cpu) / checks)
    with log.open("rb") as file:
        file.seek(offset)
        for name, seconds in _SUCCEEDED.findall(file.read().decode(errors="replace")):
            raw[f"task {name}"].append(float(seconds))
    world.receiver.requests.clear()
    return raw


# Celery's own log line, at INFO: how long the task body ran in the worker.
_SUCCEEDED = re.compile(r"Task (\S+)\[[0-9a-f-]+\] succeeded in ([0-9.e-]+)s")


def latency_summary(runs: list[dict[str, list[float]]], cpu: list[dict[str, float]]) -> dict:
    raw: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        for key, values in run.items():
            raw[key] += values
    return {
        "answer_to_last_delivery_ms": summary_ms(raw["last"]),
        "answer_to_first_delivery_ms": summary_ms(raw["first"]),
        "send_to_qrs_answer_ms": summary_ms(raw["send_to_answer"]),
        # All worker processes, user + system, over the measured checks (10 ms ticks).
        "worker_cpu_ms_per_check": round(statistics.mean(raw["worker_cpu"]) * 1000, 1),
        "median_last_arrival_ms_by_destination": {
            kind: round(statistics.median(raw[kind]) * 1000, 1)
            for kind in ("webhook", "mqtt", "influxdb")
        },
        "median_task_runtime_ms": {
            key.removeprefix("task "): round(statistics.median(values) * 1000, 1)
            for key, values in sorted(raw.items())
            if key.startswith("task ")
        },
        "unexpected_extra_deliveries": sum(raw["extra"]),
        "cpu_cores_during_runs": cpu,
    }


def count_run(world: Estate, checks: int) -> dict[str, Any]:
    """Redis commands of `checks` single-site checks, one at a time, under MONITOR.

    Two checks first, outside the capture (a fresh worker's first check loads scripts and
    opens connections). Meanwhile the bench sends only the LPUSHes (its client has no
    result backend) and does not poll Redis: a pause after each check's last arrival lets
    the acknowledgements land.
    """
    (site,) = world.site_names
    for i in range(2):
        since = now()
        fetch(site, f"{site}@count-warmup-{time.monotonic_ns()}-{i}")
        world.arrivals.wait(site, DELIVERIES, since, timeout=60)
    wait_drained()
    ids = []
    with monitoring(BROKER_URL) as capture:
        time.sleep(0.3)
        for i in range(checks):
            since = now()
            ids.append(fetch(site, f"{site}@count-{time.monotonic_ns()}-{i}").id)
            world.arrivals.wait(site, DELIVERIES, since, timeout=60)
            time.sleep(0.4)
    dbs = {redis_db(BROKER_URL), redis_db(RESULT_BACKEND)}
    windows = [capture.window(task_id, DELIVERIES, dbs=dbs) for task_id in ids]
    per_check = sorted(w["commands"] for w in windows)
    median_window = sorted(windows, key=lambda w: w["commands"])[len(windows) // 2]
    world.receiver.requests.clear()
    return {
        # Lua-internal commands included (the target: at most 14).
        "commands_per_delivery": round(statistics.median(per_check) / DELIVERIES, 2),
        "commands_per_delivery_mean": round(statistics.mean(per_check) / DELIVERIES, 2),
        "commands_per_delivery_outside_lua": round(
            statistics.median(w["commands"] - w["lua_commands"] for w in windows) / DELIVERIES, 2
        ),
        "commands_per_check": {"median": statistics.median(per_check), "min": per_check[0]}
        | {"max": per_check[-1], "checks": len(per_check)},
        "lua_commands_per_check": median_window["lua_commands"],
        "task_event_publishes_per_check": median_window["by_command"].get("PUBLISH event", 0),
        "by_command_median_check": median_window["by_command"],
    }


def with_config(world: Estate, change: Callable[[dict[str, Any]], None]) -> None:
    change(world.deployment.document)
    world.deployment.write_config()


def latency_and_commands(
    root: Path,
    pools: list[tuple[str, int]],
    checks: int,
    rounds: int,
    count_checks: int,
    services: set[int],
    events: bool = True,
) -> dict[str, Any]:
    """Per pool, `rounds` rounds of pipeline then bare app (alternating, so that a change
    in the machine's load hits both), `checks` checks in all per app, both with task events
    `events` (Celery's events cost the same in both: 4 PUBLISHes and their serialising per
    task). Commands are counted with the first pool, beside its first round, both ways."""
    latency: dict[str, Any] = {}
    commands: dict[str, Any] = {}
    per_round = max(1, checks // rounds)
    with estate(root, sites=1, status_hooks=3, alert_hooks=3, task_events=events) as world:
        # The bare app writes into the database the pipeline's writer would create.
        world.influx.query(f'CREATE DATABASE "{INFLUX_DB}" WITH DURATION 10d NAME "10d"')
        overheads = harness_overheads(world)

        def pipeline_worker(pool: str, concurrency: int) -> Any:
            extra = ("--pool", pool, "-c", str(concurrency))
            return world.deployment.start("worker", *extra, ready="ready.")

        for index, (pool, concurrency) in enumerate(pools):
            raw: dict[str, list[Any]] = {"pipeline": [], "bare": []}
            cpu: dict[str, list[Any]] = {"pipeline": [], "bare": []}
            for round_ in range(rounds):
                counting = index == 0 and round_ == 0
                worker = pipeline_worker(pool, concurrency)
                meter = CpuMeter(services)
                raw["pipeline"].append(latency_run(world, per_round, f"pipeline-{pool}-{round_}"))
                cpu["pipeline"].append(meter.stop())
                if counting:
                    commands[f"pipeline, taskEvents {str(events).lower()}"] = count_run(
                        world, count_checks
                    )
                world.deployment.stop(worker)
                if counting:
                    with_config(world, lambda c: set_task_events(c, not events))
                    worker = pipeline_worker(pool, concurrency)
                    commands[f"pipeline, taskEvents {str(not events).lower()}"] = count_run(
                        world, count_checks
                    )
                    world.deployment.stop(worker)
                    with_config(world, lambda c: set_task_events(c, events))
                bare_worker = start_bare_worker(world, pool, concurrency, events=events)
                try:
                    meter = CpuMeter(services)
                    raw["bare"].append(latency_run(world, per_round, f"bare-{pool}-{round_}"))
                    cpu["bare"].append(meter.stop())
                finally:
                    stop(bare_worker)
                if counting:
                    for bare_events, label in ((False, "no events"), (True, "task events")):
                        bare_worker = start_bare_worker(world, pool, concurrency, bare_events)
                        try:
                            commands[f"bare Celery, {label}"] = count_run(world, count_checks)
                        finally:
                            stop(bare_worker)
            latency[f"{pool} -c {concurrency}"] = {
                app: latency_summary(raw[app], cpu[app]) for app in ("pipeline", "bare")
            }
        commands["pool"] = f"{pools[0][0]} -c {pools[0][1]}"
        if host_port(RESULT_BACKEND, 6379) != host_port(BROKER_URL, 6379):
            commands["warning"] = (
                "the result backend is another Redis: its commands are not counted"
            )
    return {"harness_overheads": overheads, "latency": latency, "redis_commands": commands}


# --- memory ----------------------------------------------------------------------------------


def footprint(pool: str, concurrency: int, runs: int, beat_thread: bool) -> dict[str, Any]:
    python = lean_python()
    script = str(BENCH / "footprint.py")
    command = [python, script, "--pool", pool, "--concurrency", str(concurrency)]
    command += ["--runs", str(runs), *(["--beat-thread"] if beat_thread else [])]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    report = json.loads(done.stdout)
    report["python"] = python
    return report


# --- report ----------------------------------------------------------------------------------


def _cores(runs: list[dict[str, float]]) -> str:
    """Cores used by the bench (all of it), by the harness process alone, by others."""
    bench = statistics.mean(r["bench_cores"] for r in runs)
    harness = statistics.mean(r["harness_process_cores"] for r in runs)
    other = max(r["other_cores"] for r in runs)
    noisy = "  NOISY: others used the CPUs" if other > NOISY_CORES else ""
    return f"{bench:.2f}/{harness:.2f}/{other:.2f}{noisy}"


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    add("")
    add(f"== licmon cost bench: {report['machine']['cpus']} CPUs, {report['seconds']} s ==")
    add("")
    add("Harness overheads (medians, ms)")
    for part, values in report["harness_overheads"].items():
        add(f"  {part}")
        for key, value in values.items():
            if key != "note":
                add(f"    {key:44} {value}")
    add("")
    add("Latency, QRS answer -> last of 9 deliveries, ms (single-site checks, one at a time)")
    add(
        f"  {'pool':13} {'app':9} {'median':>7} {'p95':>7} {'min':>7} {'max':>7} {'n':>4}"
        f" {'first':>6} {'send->QRS':>9} {'cpu/check':>9}  cores all/harness/other"
    )
    for pool, apps in report["latency"].items():
        for app, run in apps.items():
            s = run["answer_to_last_delivery_ms"]
            add(
                f"  {pool:13} {app:9} {s['median']:7} {s['p95']:7} {s['min']:7} {s['max']:7}"
                f" {s['n']:4} {run['answer_to_first_delivery_ms']['median']:6}"
                f" {run['send_to_qrs_answer_ms']['median']:9} {run['worker_cpu_ms_per_check']:9}"
                f"  {_cores(run['cpu_cores_during_runs'])}"
            )
    add("  task runtimes in the worker, median ms (Celery's 'succeeded in'):")
    for pool, apps in report["latency"].items():
        for app, run in apps.items():
            runtimes = ", ".join(f"{k} {v}" for k, v in run["median_task_runtime_ms"].items())
            add(f"    {pool:13} {app:9} {runtimes}")
    add("")
    commands = report["redis_commands"]
    add(
        f"Redis commands per delivery (MONITOR; Lua-internal included; / 9; median, mean,"
        f" outside Lua; {commands['pool']})"
    )
    if "warning" in commands:
        add(f"  WARNING: {commands['warning']}")
    for name, run in commands.items():
        if name in ("pool", "warning"):
            continue
        add(
            f"  {name:28} {run['commands_per_delivery']:6} {run['commands_per_delivery_mean']:6}"
            f" {run['commands_per_delivery_outside_lua']:6}   per check "
            f"{run['commands_per_check']['median']:5} (task-event PUBLISHes "
            f"{run['task_event_publishes_per_check']}, Lua-internal "
            f"{run['lua_commands_per_check']})"
        )
    add("")
    t = report["throughput"]
    if "error" in t:
        add(f"Throughput: {t['error']}")
    else:
        c, s = t["celery"], t["sequential"]
        rounds = len(c["rounds"])
        add(
            f"Throughput, {c['sites'] // rounds} sites x {rounds} rounds (alternating apps),"
            f" {t['deliveries_per_site']} deliveries each; pipeline/bare"
            f" {c['sites_per_second'] / t['bare_celery']['sites_per_second']:.2f}; rounds, sites/s:"
            f" pipeline {[r['sites_per_second'] for r in c['rounds']]},"
            f" bare {[r['sites_per_second'] for r in t['bare_celery']['rounds']]}"
        )
        add(
            f"  pipeline ({c['pool']} -c {c['concurrency']}): {c['sites_per_second']} sites/s,"
            f" p50 {c['p50_ms']} ms, p95 {c['p95_ms']} ms"
            f"  (cores all/harness/other {_cores([t['cpu']['celery']])})"
        )
        b = t["bare_celery"]
        add(
            f"  bare Celery ({b['pool']} -c {b['concurrency']}): {b['sites_per_second']} sites/s,"
            f" p50 {b['p50_ms']} ms, p95 {b['p95_ms']} ms"
            f"  (cores all/harness/other {_cores([t['cpu']['bare_celery']])})"
        )
        add(
            f"  sequential loop: {s['sites_per_second']} sites/s,"
            f" p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms"
            f"  (cores all/harness/other {_cores([t['cpu']['sequential']])})"
        )
        add(
            f"  ratio pipeline/sequential: {t['throughput_ratio']};"
            f" bare Celery/sequential: {t['bare_ratio']}"
        )
        fds = t["descriptors"]
        add(f"  file descriptors (select() limit {fds['select_limit_FD_SETSIZE']}):")
        for name, fd in fds["processes"].items():
            add(
                f"    {name:22} peak open {fd['peak_open']:5}  highest {fd['peak_highest_fd']:5}"
                f"  MQTT socket fd {fd['mqtt_socket_fds'] or '-'}"
            )
    add("")
    add("Memory, one-site deployment (beat + worker, after the first check)")
    for name, m in report["memory"].items():
        if "error" in m:
            add(f"  {name}: failed: {m['error'][-300:]}")
            continue
        add(
            f"  {name:13} RSS {m['rss_total_mb']} MB, PSS {m['pss_total_mb']} MB,"
            f" {m['processes']} processes, Flower installed: {m['flower_installed']};"
            f" answer -> last delivery median {m['qrs_answer_to_last_delivery_ms']['median']} ms"
        )
    add("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=40, help="latency checks per app and pool")
    parser.add_argument("--rounds", type=int, default=2, help="alternations pipeline/bare")
    parser.add_argument("--count-checks", type=int, default=6, help="checks under MONITOR")
    parser.add_argument("--pools", default="threads:8,prefork:2", help="pool:concurrency,...")
    parser.add_argument("--sites", type=int, default=500, help="sites in the throughput run")
    parser.add_argument("--throughput-pool", default="prefork:8")
    # Three: one round's ratio moves by about ±0.05 with the machine (docs/benchmarks.md).
    parser.add_argument("--throughput-rounds", type=int, default=3, help="alternations")
    parser.add_argument("--footprint-runs", type=int, default=10)
    parser.add_argument("--skip", default="", help="comma-separated: throughput, memory")
    parser.add_argument(
        "--task-events",
        choices=["on", "off"],
        default="on",
        help="Celery task events in both apps (on: as deployed, for Flower)",
    )
    parser.add_argument("--output", help="also write the JSON report here")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    pools = [(p.split(":")[0], int(p.split(":")[1])) for p in args.pools.split(",")]

    require_services()
    services = listening_pids(
        [port for _, port in (host_port(BROKER_URL, 6379), (MQTT_HOST, MQTT_PORT))]
    )
    started = now()
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "broker": BROKER_URL,
            "result_backend": RESULT_BACKEND,
            "mqtt": f"{MQTT_HOST}:{MQTT_PORT}",
        }
    }
    with tempfile.TemporaryDirectory(prefix="licmon-cost-") as folder:
        events = args.task_events == "on"
        report["task_events"] = events
        report |= latency_and_commands(
            Path(folder, "latency"),
            pools,
            args.checks,
            args.rounds,
            args.count_checks,
            services,
            events,
        )
        if "throughput" not in skip:
            pool, concurrency = args.throughput_pool.split(":")
            try:
                report["throughput"] = throughput(
                    Path(folder, "throughput"),
                    args.sites,
                    pool,
                    int(concurrency),
                    services,
                    task_events=events,
                    rounds=args.throughput_rounds,
                )
            except Exception as exc:  # a descriptor limit, for one: reported, not fatal
                report["throughput"] = {"error": f"{type(exc).__name__}: {exc}"}
    if "memory" not in skip:
        report["memory"] = {}
        for pool, concurrency, beat_thread in (
            ("threads", 8, False),
            ("threads", 8, True),
            ("prefork", 2, False),
        ):
            meter = CpuMeter(services)
            found = footprint(pool, concurrency, args.footprint_runs, beat_thread)
            name = f"{pool} -c {concurrency}" + (" --beat-thread" if beat_thread else "")
            report["memory"][name] = found | {"cpu": meter.stop()}
    report["seconds"] = round(now() - started, 1)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text + "\n")
    report.setdefault("throughput", {"error": "skipped"})
    report.setdefault("memory", {})
    print(table(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
