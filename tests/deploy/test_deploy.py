"""Deployment files against the real server: the Dockerfile/compose/Kubernetes configuration
loads through the server's own config parser, `/metrics` passes `promtool check metrics`, every
metric a Grafana panel queries is exported, and Debian's Prometheus, run with
deploy/prometheus/prometheus.yml (targets rewritten to loopback), scrapes the app and answers
every dashboard query.

The server runs as a subprocess (`mbo-fast serve`, the container's entrypoint) on a small simulated
session. promtool/prometheus missing: skipped, except in CI (CI set), where that is a failure.
The linters themselves (hadolint, promtool check config, kubernetes-validate, yamllint,
check-jsonschema) run in `make deploy-check`."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import require_core

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "mbo-fast.json"
PROM_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
K8S = DEPLOY / "k8s"
IN_CI = bool(os.environ.get("CI"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} not found (CI): .ci/run installs the Debian package prometheus")
        pytest.skip(f"{name} not found (Debian package prometheus)")
    return path


def _yaml(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _k8s(kind: str) -> dict[str, Any]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == kind:
                return dict(doc)
    raise AssertionError(f"no {kind} in {K8S}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _dockerfile_env() -> dict[str, str]:
    """The runtime stage's ENV values (`ENV K=V \\` continuation lines)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.split(" AS runtime", 1)[1]
    env: dict[str, str] = {}
    for line in runtime.splitlines():
        if line.startswith("ENV "):
            for item in shlex.split(line[4:]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


# ---------------------------------------------------------------------------------------------
# static consistency (no server)


def test_dockerfile_runtime_contract() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert [s[1] for s in stages] == ["build", "runtime"]
    assert "maturin build --release --locked" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("0", "root")), user
    assert re.search(r'^VOLUME \["/data"\]', text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*urllib.request.urlopen\(.*/healthz", text, re.M)
    assert 'ENTRYPOINT ["mbo-fast", "serve", "--host", "0.0.0.0"]' in text
    env = _dockerfile_env()
    assert env["MBO_DATA_DIR"] == "/data" and env["MBO_PORT"] == "8080"
    # the image's Python is the one constraints.txt is resolved for
    lock = re.search(r"CPython (\d+\.\d+)", (ROOT / "constraints.txt").read_text())
    assert lock and f"ARG PYTHON_VERSION={lock.group(1)}" in text
    # nothing the Dockerfile COPYs is excluded from the build context
    ignored = {
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    }
    for line in re.findall(r"^COPY (.+)$", text, re.M):
        for src in line.split()[:-1]:
            assert src not in ignored, src


def test_configurations_load_with_the_server_config_parser() -> None:
    """The env of the image, of each compose service and of the ConfigMap is valid config."""
    config = pytest.importorskip("mbo_fast_server.config")
    envs: dict[str, dict[str, str]] = {"Dockerfile": _dockerfile_env()}
    compose = _yaml(ROOT / "docker-compose.yml")
    for name in ("app", "app-dev"):
        service_env = compose["services"][name]["environment"]
        envs[f"compose {name}"] = {k: str(v) for k, v in service_env.items()}
    envs["ConfigMap"] = dict(_k8s("ConfigMap")["data"])
    for origin, env in envs.items():
        mbo = {k: v for k, v in env.items() if k.startswith("MBO_")}
        unknown = [k for k in mbo if k[4:].lower() not in config._FIELDS]
        assert not unknown, (origin, unknown)
        cfg = config.load_config({}, env=mbo)
        assert (cfg.host, cfg.port, cfg.data_dir) == ("0.0.0.0", 8080, "/data"), origin


def test_compose_wiring() -> None:
    compose = _yaml(ROOT / "docker-compose.yml")
    services = compose["services"]
    assert "profiles" not in services["app"]
    assert services["app-dev"]["profiles"] == ["dev"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    # Prometheus scrapes the app service on its container port
    targets = [
        t
        for job in _yaml(PROM_CONFIG)["scrape_configs"]
        if job["job_name"] == "mbo-fast"
        for sc in job["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["app:8080"]
    for rule_file in _yaml(PROM_CONFIG).get("rule_files", []):
        assert (PROM_CONFIG.parent / rule_file).is_file(), rule_file
    # the mounted directories exist, and the dashboard provider reads where they are mounted
    mounts = {}
    for svc in ("prometheus", "grafana"):
        for vol in services[svc]["volumes"]:
            src, dst = vol.split(":")[:2]
            if src.startswith("./"):
                assert (ROOT / src).is_dir(), src
                mounts[dst] = src
    provider = _yaml(DEPLOY / "grafana/provisioning/dashboards/mbo-fast.yml")["providers"][0]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    # every panel uses the provisioned datasource
    uid = _yaml(DEPLOY / "grafana/provisioning/datasources/prometheus.yml")["datasources"][0]["uid"]
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])


def test_k8s_wiring() -> None:
    routes = pytest.importorskip("mbo_fast_server.routes")
    paths = {getattr(r, "path", None) for r in routes.routes}
    deploy = _k8s("Deployment")
    pod = deploy["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["requests"] and container["resources"]["limits"]
    port = int(_k8s("ConfigMap")["data"]["MBO_PORT"])
    assert container["ports"][0]["containerPort"] == port
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert {"/data", "/tmp"} <= mounts
    pvcs = [v["persistentVolumeClaim"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
    claims = {p["claimName"] for p in pvcs}
    assert claims == {_k8s("PersistentVolumeClaim")["metadata"]["name"]}
    assert _k8s("Service")["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    hpa = _k8s("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]


def test_every_deployed_client_passes_the_host_check() -> None:
    """What each deployment's own clients send as Host is served under its own settings: the
    Dockerfile HEALTHCHECK (127.0.0.1), Kubernetes probes (the pod IP: httpGet has no host),
    the Service's in-cluster names, and compose's Prometheus (`app:8080`)."""
    config = pytest.importorskip("mbo_fast_server.config")
    guards = pytest.importorskip("mbo_fast_server.guards")

    def policy(env: dict[str, Any]) -> Any:
        mbo = {k: str(v) for k, v in env.items() if k.startswith("MBO_")}
        return guards.HostPolicy(config.load_config({}, env=mbo))

    image = policy(_dockerfile_env())
    healthcheck = re.search(r"urlopen\('http://([^/']+)/healthz", (ROOT / "Dockerfile").read_text())
    assert healthcheck and image.allows(healthcheck.group(1).replace("%s", "8080"))
    k8s = policy(_k8s("ConfigMap")["data"])
    container = _k8s("Deployment")["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert "host" not in container[probe]["httpGet"], probe  # so: the pod IP
    assert k8s.allows("10.244.1.17:8080")
    service = _k8s("Service")["metadata"]["name"]
    for name in (service, f"{service}.default.svc", f"{service}.default.svc.cluster.local"):
        assert k8s.allows(f"{name}:80"), name
    compose = _yaml(ROOT / "docker-compose.yml")
    for job in _yaml(PROM_CONFIG)["scrape_configs"]:
        for target in (t for sc in job["static_configs"] for t in sc["targets"]):
            service_name = target.split(":")[0]
            if service_name in compose["services"]:
                env = compose["services"][service_name]["environment"]
                assert policy(env).allows(target), target
    for refused in ("evil.example", "mbo-fast.evil.example"):
        assert not k8s.allows(refused) and not image.allows(refused)


# ---------------------------------------------------------------------------------------------
# the running server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`mbo-fast serve` on a 20k-record simulated session with a little traffic behind it:
    (base URL, /metrics text)."""
    require_core()
    pytest.importorskip("mbo_fast_server")
    exe = Path(sys.executable).with_name("mbo-fast")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mbo_fast.cli"]
    data = tmp_path_factory.mktemp("deploy-data")
    port = _free_port()
    env = {
        **os.environ,
        **_dockerfile_env(),
        "MBO_HOST": "127.0.0.1",
        "MBO_PORT": str(port),
        "MBO_DATA_DIR": str(data),
        "HOME": str(data),
        "MBO_SIM_RECORDS": "20000",
        "MBO_LOG_LEVEL": "warning",
    }
    log = open(data / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*cmd, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited {proc.returncode}: {(data / 'server.log').read_text()}")
            try:
                if _get(base + "/readyz", 2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("server not ready within 90 s")
            time.sleep(0.2)
        # traffic: REST, a 404, a short SSE playback
        assert _get(base + "/api/v1/instruments")[0] == 200
        assert _get(base + "/api/v1/book?instrument_id=1&index=5000&depth=5")[0] == 200
        assert _get(base + "/api/v1/book?instrument_id=999")[0] == 404
        stream = base + "/api/v1/stream?instrument_id=1&speed=max"
        with urllib.request.urlopen(stream, timeout=10) as resp:
            resp.read(20_000)
        time.sleep(0.3)
        status, body = _get(base + "/metrics")
        assert status == 200
        yield base, body.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _exported_names(metrics_text: str) -> set[str]:
    """Every series name the exposition declares (counter X: X_total/X_created; histogram:
    _bucket/_sum/_count/_created), whether or not it has samples yet."""
    names: set[str] = set()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "gauge": ("",),
    }
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M):
        name, kind = m.groups()
        base = name[: -len("_total")] if kind == "counter" and name.endswith("_total") else name
        names.update(base + s for s in suffixes.get(kind, ("",)))
    names.update(re.findall(r"^([a-zA-Z_:][\w:]*)(?:\{| )", metrics_text, re.M))
    return names


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}
_PROMQL_WORDS |= {"and", "or", "unless", "le", "inf", "nan"}


def _queried_metrics(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][\w:]*", expr):
        word = m.group(0)
        after = expr[m.end() :].lstrip()
        if word.lower() in _PROMQL_WORDS or after.startswith("("):
            continue
        names.add(word)
    return names


def _dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p["targets"]]


def test_query_parser_sees_metric_names() -> None:
    expr = 'histogram_quantile(0.9, sum by (le, r) (rate(a_b_bucket{job="x", r!~"s.*"}[5m])))'
    assert _queried_metrics(expr) == {"a_b_bucket"}
    assert _queried_metrics('up{job="mbo-fast"} == 0') == {"up"}


def test_promtool_check_metrics(server: tuple[str, str]) -> None:
    promtool = _tool("promtool")
    res = subprocess.run(
        [promtool, "check", "metrics"], input=server[1], capture_output=True, text=True, timeout=30
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_dashboard_metrics_exist(server: tuple[str, str]) -> None:
    exported = _exported_names(server[1]) | {"up"}  # `up`: Prometheus's own, per target
    queried = set().union(*(_queried_metrics(e) for e in _dashboard_exprs()))
    assert any(q.startswith("mbo_") for q in queried)
    assert not queried - exported, sorted(queried - exported)
    rules = _yaml(DEPLOY / "prometheus" / "rules.yml")
    for group in rules["groups"]:
        for rule in group["rules"]:
            missing = _queried_metrics(rule["expr"]) - exported
            assert not missing, (rule.get("alert"), missing)


def test_real_prometheus_scrapes_the_app(server: tuple[str, str], tmp_path: Path) -> None:
    """Debian's Prometheus with the repository's config (targets -> loopback, 1 s scrapes)."""
    prometheus = _tool("prometheus")
    base, _ = server
    cfg = _yaml(PROM_CONFIG)
    cfg["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    cfg["rule_files"] = [str(PROM_CONFIG.parent / f) for f in cfg.get("rule_files", [])]
    for job in cfg["scrape_configs"]:
        for sc in job["static_configs"]:
            sc["targets"] = [urllib.parse.urlsplit(base).netloc]
    cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if j["job_name"] == "mbo-fast"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api/v1/query?query="
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def query(q: str) -> dict[str, Any]:
        status, body = _get(api + urllib.parse.quote(q))
        doc: dict[str, Any] = json.loads(body)
        assert status == 200 and doc["status"] == "success", (q, doc)
        return doc

    try:
        deadline = time.monotonic() + 45
        result: list[Any] = []
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                result = query('mbo_sources_loaded{job="mbo-fast"}')["data"]["result"]
            except (OSError, ValueError):
                result = []
            if result:
                break
            time.sleep(0.5)
        assert result, "Prometheus scraped no mbo_sources_loaded within 45 s"
        assert float(result[0]["value"][1]) == 1.0
        assert query('up{job="mbo-fast"}')["data"]["result"][0]["value"][1] == "1"
        total = query('sum(mbo_records_processed_total{job="mbo-fast"})')["data"]["result"]
        assert total and float(total[0]["value"][1]) > 0
        # every dashboard query is valid PromQL that Prometheus evaluates
        for expr in _dashboard_exprs():
            query(expr.replace("$__rate_interval", "1m"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
