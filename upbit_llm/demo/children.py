"""Which processes the demo runs, with what arguments, environment, ports and readiness probes."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from upbit_core.settings import PROJECT_ROOT, Settings
from upbit_llm.services import port_open
from upbit_llm.supervisor import ChildSpec

CELERY_QUEUES = "llm,maintenance"
# Alerts are not queued behind the model: scans and alert deliveries have their own worker, so a slow
# interpretation or a market summary never holds a fresh pump's Slack alert (issue 21, alert latency).
CELERY_FAST_QUEUES = "scans,alerts"
# Start order. The history (a one-shot) finishes before fake-upbit starts: the simulator's clock starts with the
# server, so starting it later would put the live stream's event time behind the wall clock.
START_ORDER = (
    "consume",
    "history",
    "fake-upbit",
    "ingest",
    "celery-worker",
    "celery-alerts",
    "celery-beat",
    "flower",
    "mcp",
    "web",
)
PLACEHOLDER_MARK = "not available in this build yet"


def settings_env(settings: Settings) -> dict[str, str]:
    """Every setting as an environment variable, so children see exactly the demo's configuration."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value)
    return env


def flower_env(env: dict[str, str], user: str, password: str, host: str, port: int) -> dict[str, str]:
    """The environment for `celery -A celery_app flower`: our settings (read by flowerconfig.py) and the same
    values in Flower's own option names, so basic auth holds whichever way Flower picks its options up."""
    fenv = dict(env)
    fenv.update({"FLOWER_USER": user, "FLOWER_PASSWORD": password, "FLOWER_HOST": host, "FLOWER_PORT": str(port)})
    fenv["FLOWER_BASIC_AUTH"] = f"{user}:{password}"
    fenv["FLOWER_ADDRESS"] = host
    return fenv


def port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(host: str, preferred: int) -> int:
    """`preferred` when it is free, else any free port (a second demo or a stray server must not block us)."""
    if preferred and port_free(host, preferred):
        return preferred
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def command_available(module: str) -> bool:
    """False while a command module is still the foundation's placeholder."""
    try:
        mod = importlib.import_module(f"upbit_llm.commands.{module}")
        return PLACEHOLDER_MARK not in inspect.getsource(mod)
    except (ImportError, OSError):
        return False


def command_flags(module: str) -> set[str]:
    """The option strings a command accepts (so the demo passes only flags the area team implemented)."""
    mod = importlib.import_module(f"upbit_llm.commands.{module}")
    parser = argparse.ArgumentParser(add_help=False)
    mod.add_arguments(parser)
    return {opt for action in parser._actions for opt in action.option_strings}


def celery_available() -> bool:
    # A file check, not find_spec: an editable install made before celery_app existed does not map it, while the
    # children run from the project root (and with it on PYTHONPATH), where it imports.
    return (PROJECT_ROOT / "celery_app" / "__init__.py").exists()


@dataclass
class DemoOptions:
    live: bool = False
    log_dir: Path = Path(".run/logs")
    web: bool = True
    flower: bool = True
    markets: int = 160
    rate: float = 200.0
    summary_interval: int = 300
    first_event_after: float = 60.0
    event_interval: float = 120.0
    history_minutes: float = 8.0
    seed: int = 7
    celery_concurrency: int = 2


@dataclass
class DemoPlan:
    specs: list[ChildSpec]
    env: dict[str, str]
    urls: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    flower_user: str = ""
    flower_password: str = ""
    flower_password_generated: bool = False
    mcp_token: str = ""
    mcp_token_generated: bool = False
    labels_path: Path | None = None

    def child_names(self) -> set[str]:
        return {s.name for s in self.specs}


def _port_probe(host: str, port: int):  # type: ignore[no-untyped-def]
    return lambda: port_open(host, port, timeout=0.3)


def build_plan(settings: Settings, opts: DemoOptions, *, base_env: dict[str, str] | None = None) -> DemoPlan:
    """Decide ports, secrets, environment and the children (in start order) for one demo run."""
    py = sys.executable
    env = dict(os.environ if base_env is None else base_env)
    env.update(settings_env(settings))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env["SUMMARY_INTERVAL_SECONDS"] = str(opts.summary_interval)

    flower_password = settings.flower_password.get_secret_value()
    plan = DemoPlan(specs=[], env=env, flower_user=settings.flower_user)
    if not flower_password:
        flower_password, plan.flower_password_generated = secrets.token_urlsafe(12), True
    plan.flower_password = flower_password
    mcp_token = settings.mcp_token.get_secret_value()
    if not mcp_token:
        mcp_token, plan.mcp_token_generated = secrets.token_urlsafe(24), True
    plan.mcp_token = mcp_token
    env["FLOWER_PASSWORD"] = flower_password
    env["MCP_TOKEN"] = mcp_token

    def spec(name: str, argv: list[str], **kw: object) -> None:
        plan.specs.append(ChildSpec(name=name, argv=argv, env=env, cwd=PROJECT_ROOT, **kw))  # type: ignore[arg-type]

    upbit = [py, "-m", "upbit_llm"]

    # 1. Market data source: the simulator behind the Upbit protocol, or real Upbit.
    if not opts.live:
        if not command_available("fake_upbit"):
            plan.skipped["fake-upbit"] = "fake-upbit is not implemented in this build"
        else:
            port = pick_port("127.0.0.1", 0)
            flags = command_flags("fake_upbit")
            argv = [*upbit, "fake-upbit", "--simulate", "--host", "127.0.0.1", "--port", str(port)]
            argv += ["--markets", str(opts.markets), "--rate", str(opts.rate)]
            if "--seed" in flags:
                argv += ["--seed", str(opts.seed)]
            if "--labels" in flags:
                plan.labels_path = opts.log_dir.parent / "demo-labels.jsonl"
                argv += ["--labels", str(plan.labels_path)]
            if "--first-event" in flags:
                argv += ["--first-event", str(opts.first_event_after)]
            if "--event-interval" in flags:
                argv += ["--event-interval", str(opts.event_interval)]
            spec("fake-upbit", argv, ready=_port_probe("127.0.0.1", port), url=f"ws://127.0.0.1:{port}/websocket/v1")
            env["UPBIT_WS_URL"] = f"ws://127.0.0.1:{port}/websocket/v1"
            env["UPBIT_REST_URL"] = f"http://127.0.0.1:{port}"
            plan.urls["simulated Upbit"] = f"ws://127.0.0.1:{port}/websocket/v1 (REST http://127.0.0.1:{port})"
    else:
        plan.urls["Upbit"] = settings.upbit_ws_url

    # 2. Consumer before producer, so the group has joined when the first messages arrive; with the simulator, a
    # warm-up history first (the anomaly detector needs minutes of baseline before it can flag the first pump).
    for name, module in (("consume", "consume"), ("ingest", "ingest")):
        if not command_available(module):
            plan.skipped[name] = f"`upbit-llm {name}` is not implemented in this build"
            continue
        if name == "ingest" and not opts.live and opts.history_minutes > 0 and "fake-upbit" in plan.child_names():
            history = [py, "-m", "upbit_llm.demo.history", "--minutes", f"{opts.history_minutes:g}"]
            history += ["--markets", str(opts.markets), "--rate", f"{opts.rate:g}", "--seed", str(opts.seed)]
            spec("history", history, oneshot=True, restart=False, ready_timeout=300)
        spec(name, [*upbit, name])

    # 3. Celery worker, beat and Flower.
    if celery_available():
        celery = [py, "-m", "celery", "-A", "celery_app"]
        spec(
            "celery-worker",
            [*celery, "worker", "-Q", CELERY_QUEUES, "-E", "-n", f"demo-{os.getpid()}@%h", "--loglevel", "INFO",
             "--concurrency", str(opts.celery_concurrency), "--without-mingle", "--without-gossip"],
        )  # fmt: skip
        spec(
            "celery-alerts",
            [*celery, "worker", "-Q", CELERY_FAST_QUEUES, "-E", "-n", f"demo-alerts-{os.getpid()}@%h", "--loglevel",
             "INFO", "--concurrency", "2", "--without-mingle", "--without-gossip"],
        )  # fmt: skip
        schedule = opts.log_dir.parent / "celerybeat-schedule"
        spec("celery-beat", [*celery, "beat", "--loglevel", "INFO", "--schedule", str(schedule)])
        if opts.flower:
            fport = pick_port(settings.flower_host, settings.flower_port)
            fenv = flower_env(env, plan.flower_user, flower_password, settings.flower_host, fport)
            url = f"http://{settings.flower_host}:{fport}"
            plan.specs.append(
                ChildSpec(
                    "flower",
                    [*celery, "flower"],
                    env=fenv,
                    cwd=PROJECT_ROOT,
                    ready=_port_probe(settings.flower_host, fport),
                    ready_timeout=60,
                    url=url,
                )
            )
            plan.urls["Flower"] = url
    else:
        plan.skipped["celery"] = "celery_app is not in this build (worker, beat and Flower not started)"

    # 4. MCP over streamable HTTP, with a bearer token.
    if command_available("mcp_server"):
        mport = pick_port(settings.mcp_host, settings.mcp_port)
        env_m = dict(env, MCP_PORT=str(mport))
        url = f"http://{settings.mcp_host}:{mport}/mcp"
        plan.specs.append(
            ChildSpec(
                "mcp",
                [*upbit, "mcp", "--transport", "http", "--host", settings.mcp_host, "--port", str(mport)],
                env=env_m,
                cwd=PROJECT_ROOT,
                ready=_port_probe(settings.mcp_host, mport),
                ready_timeout=60,
                url=url,
            )
        )
        plan.urls["MCP (streamable HTTP)"] = url
    else:
        plan.skipped["mcp"] = "`upbit-llm mcp` is not implemented in this build"

    # 5. Dashboard.
    if opts.web and command_available("web"):
        wport = pick_port(settings.web_host, settings.web_port)
        url = f"http://{settings.web_host}:{wport}/"
        plan.specs.append(
            ChildSpec(
                "web",
                [*upbit, "web", "--host", settings.web_host, "--port", str(wport)],
                env=dict(env, WEB_PORT=str(wport)),
                cwd=PROJECT_ROOT,
                ready=_port_probe(settings.web_host, wport),
                ready_timeout=60,
                url=url,
            )
        )
        plan.urls["dashboard"] = url
    elif opts.web:
        plan.skipped["web"] = "`upbit-llm web` is not implemented in this build"
    plan.specs.sort(key=lambda s: START_ORDER.index(s.name) if s.name in START_ORDER else len(START_ORDER))
    return plan


def mcp_config_line(url: str, token: str) -> str:
    """The Claude Code command that registers this MCP server."""
    return f'claude mcp add --transport http upbit-llm {url} --header "Authorization: Bearer {token}"'
