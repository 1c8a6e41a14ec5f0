"""A bare Celery app doing the pipeline's I/O and nothing else: the floor under its cost.

    cd bench && LICMON_CONFIG=licmon.yaml LICMON_BROKER_URL=redis://... \\
        celery -A bare_app worker --pool threads -c 8

`license.fetch(site, check_id, tick)` GETs /qrs/license over mutual TLS with requests, reads
the earliest `Valid To`, and fans out one task per delivery, as the pipeline does: one per
webhook (requests.post), MQTT status and alert (paho, QoS 1, waiting for the PUBACK), one
InfluxDB 1.x point (line protocol POSTed to /write).

The Celery settings that shape the cost are the pipeline's: acks late, reject on worker
lost, prefetch 1, JSON, the same queue names on the same Redis. Nothing else: no claims,
retries, dead letters, rate limits, result backend, and no task events unless
BARE_TASK_EVENTS=1.

It reads the same config file as the pipeline (Butler keys + `licmon.sites`) with plain
YAML, and imports nothing from licmon, tasks or worker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import string
import threading
from typing import Any

import paho.mqtt.client as mqtt
import requests
import yaml
from celery import Celery
from kombu import Queue
from paho.mqtt.enums import CallbackAPIVersion
from requests.adapters import HTTPAdapter

with open(os.environ["LICMON_CONFIG"]) as file:
    CONFIG: dict[str, Any] = yaml.safe_load(file)
BUTLER = CONFIG["Butler"]
SITES = {site["name"]: site for site in CONFIG["licmon"]["sites"]}
BROKER = os.environ.get("LICMON_BROKER_URL") or CONFIG["licmon"]["broker"]["url"]
EVENTS = os.environ.get("BARE_TASK_EVENTS") == "1"
QUEUES = ("license.fetch", "deliver.webhook", "deliver.mqtt", "deliver.influxdb")

app = Celery("bare", broker=BROKER)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_transport_options={"visibility_timeout": 3600},
    broker_connection_retry_on_startup=True,
    task_ignore_result=True,
    worker_send_task_events=EVENTS,
    task_send_sent_event=EVENTS,
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="license.fetch",
    task_routes={
        "bare.webhook": {"queue": "deliver.webhook"},
        "bare.mqtt": {"queue": "deliver.mqtt"},
        "bare.influxdb": {"queue": "deliver.influxdb"},
    },
)

# --- connections: one per process (and per thread for requests), made after the fork -------

_local = threading.local()
_lock = threading.Lock()
_mqtt: dict[int, mqtt.Client] = {}


class _ChainOnly(HTTPAdapter):
    """Verify the chain, not the host name (the site's `verifyHostname: false`)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_hostname"] = False
        super().init_poolmanager(*args, **kwargs)


def _sessions() -> dict[str, requests.Session]:
    if getattr(_local, "pid", None) != os.getpid():
        _local.pid, _local.sessions = os.getpid(), {}
    return _local.sessions


def _session(name: str) -> requests.Session:
    sessions = _sessions()
    if name not in sessions:
        session = requests.Session()
        if name.startswith("qrs:"):
            site = SITES[name[4:]]
            session.mount("https://", _ChainOnly(max_retries=0))
            session.cert = (site["cert"]["clientCert"], site["cert"]["clientCertKey"])
            session.headers["X-Qlik-User"] = "UserDirectory=INTERNAL; UserId=sa_repository"
        sessions[name] = session
    return sessions[name]


def _publisher() -> mqtt.Client:
    with _lock:
        client = _mqtt.get(os.getpid())
        if client is None:
            settings = BUTLER["mqttConfig"]
            connected = threading.Event()
            client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
            client.on_connect = lambda *args: connected.set()
            client.connect(settings["brokerHost"], settings["brokerPort"])
            client.loop_start()
            if not connected.wait(10):
                raise RuntimeError("MQTT: not connected within 10 s")
            _mqtt[os.getpid()] = client
        return client


# --- the license --------------------------------------------------------------------------

_VALID_TO = re.compile(r"Valid To:\s*(\d{4}-\d{2}-\d{2})")


def _status(site: str, license_: dict[str, Any], check_id: str) -> dict[str, Any]:
    today = dt.datetime.now(dt.UTC).date()
    dates = [dt.date.fromisoformat(d) for d in _VALID_TO.findall(license_["keyDetails"])]
    expiry = min(dates)
    days = (expiry - today).days
    return {
        "licenseExpired": bool(license_["isExpired"]) or days < 0,
        "expiryDateStr": expiry.isoformat(),
        "daysUntilExpiry": days,
        "expiryDate": expiry.isoformat(),
        "site": site,
        "checkId": check_id,
    }


@app.task(name="license.fetch")
def fetch(site: str, check_id: str, tick: str) -> None:
    where = SITES[site]
    key = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    answer = _session(f"qrs:{site}").get(
        f"https://{where['host']}:{where['port']}/qrs/license",
        params={"xrfkey": key},
        headers={"X-Qlik-Xrfkey": key},
        # Per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE.
        verify=where["cert"]["clientCertCA"],
        timeout=30,
    )
    answer.raise_for_status()
    status = _status(site, answer.json(), check_id)
    notification = BUTLER["webhookNotification"]
    for group in ("qlikSenseServerLicenseMonitor", "qlikSenseServerLicenseExpiryAlert"):
        for index, _ in enumerate(notification[group]["webhooks"]):
            deliver_webhook.apply_async(kwargs={"group": group, "index": index, "status": status})
    for kind in ("status", "alert"):
        deliver_mqtt.apply_async(kwargs={"kind": kind, "status": status})
    deliver_influxdb.apply_async(kwargs={"status": status, "tick": tick})


@app.task(name="bare.webhook")
def deliver_webhook(group: str, index: int, status: dict[str, Any]) -> None:
    hook = BUTLER["webhookNotification"][group]["webhooks"][index]
    alert = group == "qlikSenseServerLicenseExpiryAlert"
    event = "server license about to expire alert" if alert else "server license status"
    body = {"event": event} | {k: status[k] for k in list(status)[:3]}
    answer = _session("webhooks").request(
        hook["httpMethod"],
        hook["webhookURL"],
        json=body,
        headers={"X-Licmon-Check-Id": status["checkId"], "X-Licmon-Site": status["site"]},
        timeout=10,
    )
    answer.raise_for_status()


@app.task(name="bare.mqtt")
def deliver_mqtt(kind: str, status: dict[str, Any]) -> None:
    settings = BUTLER["mqttConfig"]
    if kind == "status":
        topic, payload = settings["qlikSenseServerLicenseTopic"], json.dumps(status)
    else:
        topic = settings["qlikSenseServerLicenseExpireTopic"]
        payload = (
            f"Qlik Sense server license is about to expire in {status['daysUntilExpiry']} "
            f"days, on {status['expiryDateStr']}"
        )
    info = _publisher().publish(f"{topic}/{status['site']}", payload, qos=1)
    info.wait_for_publish(timeout=10)
    if not info.is_published():
        raise RuntimeError("MQTT: no PUBACK within 10 s")


@app.task(name="bare.influxdb")
def deliver_influxdb(status: dict[str, Any], tick: str) -> None:
    influx = BUTLER["influxDb"]
    tags = {t["name"]: t["value"] for t in influx["tag"]["static"]}
    feature = BUTLER["qlikSenseLicense"]["serverLicenseMonitor"]["destination"]["influxDb"]
    tags |= {t["name"]: t["value"] for t in feature["tag"]["static"]}
    tags["site"] = status["site"]
    seconds = int(dt.datetime.fromisoformat(tick.replace("Z", "+00:00")).timestamp())
    line = (
        "qlik_sense_server_license,"
        + ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
        + f" days_until_expiry={float(status['daysUntilExpiry'])},"
        + f'expiry_date="{status["expiryDateStr"]}",'
        + f"license_expired={'true' if status['licenseExpired'] else 'false'} {seconds}"
    )
    v1 = influx["v1Config"]
    answer = _session("influxdb").post(
        f"http://{influx['hostIP']}:{influx['hostPort']}/write",
        params={"db": v1["dbName"], "rp": v1["retentionPolicy"]["name"], "precision": "s"},
        data=line.encode(),
        timeout=10,
    )
    answer.raise_for_status()
