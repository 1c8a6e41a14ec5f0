"""Redis servers of a test's own for the broker across networks: one that speaks only TLS
(a client certificate required), and a Sentinel group (a master, a replica, three
sentinels). Each starts on free loopback ports in the test's folder; nothing here touches a
server someone else runs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
import trustme

from tests.pipeline_support import wait_for
from tests.services import free_port, stop_process


def redis_binary() -> str:
    return shutil.which("redis-server") or "redis-server"


@dataclass
class Pki:
    """A CA, the server's certificate (127.0.0.1, localhost), a client certificate, and a
    second CA that signed none of them."""

    root: Path

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        ca, other = trustme.CA(), trustme.CA()
        ca.cert_pem.write_to_path(str(self.ca))
        other.cert_pem.write_to_path(str(self.other_ca))
        server = ca.issue_cert("127.0.0.1", "localhost")
        server.private_key_and_cert_chain_pem.write_to_path(str(self.server_pem))
        client = ca.issue_cert("licmon-worker")
        client.cert_chain_pems[0].write_to_path(str(self.client_cert))
        client.private_key_pem.write_to_path(str(self.client_key))

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def other_ca(self) -> Path:
        return self.root / "other-ca.pem"

    @property
    def server_pem(self) -> Path:
        return self.root / "server.pem"

    @property
    def client_cert(self) -> Path:
        return self.root / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.root / "client.key"

    def tls_section(self, ca: Path | None = None) -> dict[str, str]:
        """`licmon.broker.tls` for a client of the servers."""
        return {
            "caFile": str(ca or self.ca),
            "certFile": str(self.client_cert),
            "keyFile": str(self.client_key),
        }


@dataclass
class TlsRedis:
    """redis-server on a TLS port only (`--port 0`), client certificates required, AOF."""

    root: Path
    pki: Pki
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int) -> str:
        return f"rediss://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            ssl=True,
            ssl_ca_certs=str(self.pki.ca),
            ssl_certfile=str(self.pki.client_cert),
            ssl_keyfile=str(self.pki.client_key),
            socket_timeout=5,
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        pem = str(self.pki.server_pem)
        self.process = subprocess.Popen(
            [
                redis_binary(),
                "--bind", "127.0.0.1",
                "--port", "0",
                "--tls-port", str(self.port),
                "--tls-cert-file", pem,
                "--tls-key-file", pem,
                "--tls-ca-cert-file", str(self.pki.ca),
                "--tls-auth-clients", "yes",
                "--dir", str(self.root),
                "--appendonly", "yes",
                "--save", "",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"redis-server exited, see {self.root / 'redis.log'}")
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_for(answers, 15, f"redis-server (TLS) on port {self.port}")

    def stop(self) -> None:
        stop_process(self.process, timeout=10)
        self.process = None


# --- Sentinel ---------------------------------------------------------------------------------

MASTER_NAME = "licmon"


def tls_arguments(pki: Pki | None, port: int) -> list[str]:
    """A node on `port` speaking TLS only, client certificates required, TLS to its peers
    (replication, and a sentinel's connections to the nodes and the other sentinels)."""
    if pki is None:
        return ["--port", str(port)]
    pem = str(pki.server_pem)
    return [
        "--port", "0",
        "--tls-port", str(port),
        "--tls-cert-file", pem,
        "--tls-key-file", pem,
        "--tls-ca-cert-file", str(pki.ca),
        "--tls-auth-clients", "yes",
        "--tls-replication", "yes",
    ]  # fmt: skip


def tls_client_options(pki: Pki | None) -> dict[str, object]:
    if pki is None:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": str(pki.ca),
        "ssl_certfile": str(pki.client_cert),
        "ssl_keyfile": str(pki.client_key),
    }


@dataclass
class DataNode:
    """A master or replica: AOF on, every write fsynced, as the broker's Redis should be;
    the same password on both (`masterauth`: a promoted replica's peers still get in)."""

    root: Path
    password: str
    pki: Pki | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def client(self, timeout: float = 2) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=timeout,
            **tls_client_options(self.pki),  # type: ignore[arg-type]
        )

    def start(self, replica_of: int | None = None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / "redis.log").open("ab")
        arguments = [
            "--bind", "127.0.0.1",
            *tls_arguments(self.pki, self.port),
            "--dir", str(self.root),
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            "--requirepass", self.password,
            "--masterauth", self.password,
        ]  # fmt: skip
        if replica_of is not None:
            arguments += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.process = subprocess.Popen(
            [redis_binary(), *arguments], stdout=log, stderr=subprocess.STDOUT
        )
        wait_for(self.answers, 15, f"redis-server on port {self.port}")

    def answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"redis-server exited, see {self.root / 'redis.log'}")
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def kill9(self) -> float:
        """kill -9, as a host dying: nothing saved, nothing said. When it died."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        return time.monotonic()

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


@dataclass
class SentinelNode:
    """A sentinel with a password of its own (`requirepass`, and `sentinel-pass` to reach
    the others) that knows the data nodes' (`auth-pass`)."""

    root: Path
    master_port: int
    down_after_ms: int
    failover_timeout_ms: int
    password: str
    node_password: str
    pki: Pki | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.password,
            socket_timeout=2,
            **tls_client_options(self.pki),  # type: ignore[arg-type]
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # Sentinel rewrites its config file: one file of its own, in its folder.
        config = self.root / "sentinel.conf"
        listen = tls_arguments(self.pki, self.port)
        config.write_text(
            "bind 127.0.0.1\n"
            + "".join(f"{a[2:]} {b}\n" for a, b in zip(listen[::2], listen[1::2], strict=True))
            + f"dir {self.root}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            f"sentinel auth-pass {MASTER_NAME} {self.node_password}\n"
            f"requirepass {self.password}\nsentinel sentinel-pass {self.password}\n"
        )
        log = (self.root / "sentinel.log").open("ab")
        self.process = subprocess.Popen(
            [redis_binary(), str(config), "--sentinel"], stdout=log, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"sentinel exited, see {self.root / 'sentinel.log'}")
            try:
                return bool(self.client().ping())
            except redis.RedisError:
                return False

        wait_for(answers, 15, f"sentinel on port {self.port}")

    def master(self) -> tuple[str, int] | None:
        try:
            found = self.client().sentinel_get_master_addr_by_name(MASTER_NAME)
        except redis.RedisError:
            return None
        if not found:
            return None
        host, port = found
        return (host.decode() if isinstance(host, bytes) else str(host)), int(port)

    def stop(self) -> None:
        stop_process(self.process, timeout=10)


@dataclass
class SentinelGroup:
    """One master, one replica, three sentinels (quorum 2); the data nodes and the
    sentinels each with a password."""

    root: Path
    down_after_ms: int = 1500
    failover_timeout_ms: int = 5000
    node_password: str = "node-pw-7Hq2"
    sentinel_password: str = "sentinel-pw-4Kx9"
    # Every node and sentinel on TLS only, client certificates required.
    pki: Pki | None = None
    master: DataNode = field(init=False)
    replica: DataNode = field(init=False)
    sentinels: list[SentinelNode] = field(init=False)

    def __post_init__(self) -> None:
        self.master = DataNode(self.root / "master", self.node_password, self.pki)
        self.replica = DataNode(self.root / "replica", self.node_password, self.pki)
        self.sentinels = [
            SentinelNode(
                self.root / f"sentinel-{n}",
                self.master.port,
                self.down_after_ms,
                self.failover_timeout_ms,
                self.sentinel_password,
                self.node_password,
                self.pki,
            )
            for n in range(3)
        ]

    def url(self, db: int) -> str:
        """kombu's form; the data nodes' password in each part, as kombu reads it."""
        return ";".join(
            f"sentinel://:{self.node_password}@127.0.0.1:{s.port}/{db}" for s in self.sentinels
        )

    def start(self) -> None:
        self.master.start()
        self.replica.start(replica_of=self.master.port)

        def replicating() -> bool:
            info = self.master.client().info("replication")
            return int(info.get("connected_slaves", 0)) == 1

        wait_for(replicating, 20, "the replica to connect to the master")
        for sentinel in self.sentinels:
            sentinel.start()

        def every_sentinel_knows_all() -> bool:
            for sentinel in self.sentinels:
                try:
                    info = sentinel.client().sentinel_master(MASTER_NAME)
                except redis.RedisError:
                    return False
                if (
                    int(info.get("num-slaves", 0)) < 1
                    or int(info.get("num-other-sentinels", 0)) < 2
                ):
                    return False
            return True

        wait_for(every_sentinel_knows_all, 30, "the sentinels to find the replica and each other")

    def master_port_now(self) -> int | None:
        """The master's port as the sentinels name it (a majority of them agreeing)."""
        named = [s.master() for s in self.sentinels]
        ports = [found[1] for found in named if found is not None]
        for port in set(ports):
            if ports.count(port) >= 2:
                return port
        return None

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.master.stop()
