"""The deployment files say what the server needs: the Kubernetes manifests are valid for the
Kubernetes versions operators run, every setting they name exists, the pods stop gracefully
before they are killed, and the compose files wire the replicas to what they are meant to use.

The manifests are checked against the OpenAPI schemas that ``kubernetes-validate`` ships, in
strict mode (an unknown field is an error, as ``kubectl apply --validate=strict`` would say),
without a cluster and offline.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from server.config import Settings
from server.rooms.transcript import TranscriptWriter
from server.runner import uvicorn_options

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.cluster.yml")
NGINX_CONF = ROOT / "deploy" / "nginx.conf"

# The oldest minor still supported upstream when this was written, and the newest the package
# ships: a field that one lacks or has dropped fails here rather than at kubectl apply.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")

# Not among the kustomization's resources: its own file, and the Job applied (and waited
# for) before the rest.
KUSTOMIZATION = "kustomization.yaml"
MIGRATE_JOB = "migrate-job.yaml"

# Read by what the server runs on rather than by Settings: the tutor's OpenAI client, and
# uvicorn (which proxies' X-Forwarded-* headers it trusts).
FOREIGN_ENV = {"OPENAI_API_KEY", "OPENAI_BASE_URL", "FORWARDED_ALLOW_IPS"}

SETTINGS_ENV = {f"STUDYROOM_{name.upper()}" for name in Settings.model_fields}


def _documents(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def _manifest_files() -> list[Path]:
    return sorted(path for path in KUBERNETES.glob("*.yaml") if path.name != KUSTOMIZATION)


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in _manifest_files() for doc in _documents(path)]


def _one(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in _resources() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in {KUBERNETES}, found {len(found)}"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _compose(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return document


def _servers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The studyroom replicas: the image's default command, which is ``studyroom serve``."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("image") == "studyroom:local" and "command" not in service
    }


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, f"expected a duration in seconds, not {duration!r}"
    return float(match.group(1))


def _shutdown_s() -> float:
    """How long a server may take to stop after SIGTERM: uvicorn's grace for open connections
    (sockets are closed with 1012 at its start), then the transcript's final flush."""
    graceful = float(uvicorn_options(Settings.model_construct())["timeout_graceful_shutdown"])
    drain = inspect.signature(TranscriptWriter.close).parameters["drain_s"].default
    return graceful + float(drain)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    ("name", "resource"),
    _resources(),
    ids=[f"{name}:{doc['kind']}" for name, doc in _resources()],
)
def test_manifest_is_valid_kubernetes(name: str, resource: dict[str, Any], version: str) -> None:
    problem = None
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(part) for part in exc.path)
        problem = f"{name} ({resource['kind']}) at {where}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        problem = f"{name}: {exc.message}"
    # Outside the handler, so the report is this line and not the whole schema.
    if problem:
        pytest.fail(problem)


def test_a_broken_manifest_is_refused() -> None:
    deployment = _one("Deployment")
    _container(deployment)["readinessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError, match="periodSecond"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_applies_every_manifest_but_the_migration() -> None:
    (kustomization,) = _documents(KUBERNETES / KUSTOMIZATION)
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    expected = {path.name for path in _manifest_files()} - {MIGRATE_JOB}
    assert set(listed) == expected


def test_probes_ask_the_routes_the_server_has() -> None:
    from server.api.routes.health import router

    routes = {getattr(route, "path", None) for route in router.routes}
    container = _container(_one("Deployment"))
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    probes = {
        kind: (container[kind]["httpGet"]["path"], container[kind]["httpGet"]["port"])
        for kind in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert probes["readinessProbe"] == ("/readyz", "http")
    assert probes["livenessProbe"] == ("/healthz", "http")
    for path, _ in probes.values():
        assert path in routes
    # A readiness check waits up to 2 s for each dependency; the probe must outwait it.
    from server.api.routes.health import READY_TIMEOUT_S

    assert container["readinessProbe"]["timeoutSeconds"] > READY_TIMEOUT_S


def test_pod_leaves_the_service_then_closes_sockets_within_its_grace_period() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    pre_stop = _container(_one("Deployment"))["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        waits = float(pre_stop["sleep"]["seconds"])
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] == "sleep", command
        waits = float(command[1])
    # Endpoint removal reaches kube-proxy and ingress controllers within a few seconds.
    assert waits >= 5
    # The grace period counts from the start of preStop.
    assert pod["terminationGracePeriodSeconds"] > waits + _shutdown_s()


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_replicas_stop_before_they_are_killed(compose_file: str) -> None:
    servers = _servers(_compose(compose_file))
    assert servers
    for service in servers.values():
        assert _seconds(service["stop_grace_period"]) > _shutdown_s()


def test_autoscaler_scales_the_deployment_on_cpu() -> None:
    deployment = _one("Deployment")
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    metrics = [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]]
    assert metrics == ["cpu"]
    # A count in the Deployment would undo the autoscaler's on every apply.
    assert "replicas" not in deployment["spec"]
    # With one pod allowed to be disrupted, another still serves.
    assert hpa["spec"]["minReplicas"] >= 2
    # The autoscaler's CPU utilisation is a share of the request.
    assert "cpu" in _container(deployment)["resources"]["requests"]


def test_budget_and_service_select_the_deployments_pods() -> None:
    deployment = _one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["selector"] == {"matchLabels": selector}
    assert _one("Service")["spec"]["selector"] == selector
    migrate = _one("Job")["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= migrate.items(), "the Service would route to the Job"


def test_service_routes_to_the_servers_port() -> None:
    (port,) = _one("Service")["spec"]["ports"]
    assert port["targetPort"] in {p["name"] for p in _container(_one("Deployment"))["ports"]}


def _manifest_env() -> dict[str, set[str]]:
    """Every environment variable the manifests give a container, by where it is set."""
    names: dict[str, set[str]] = {}
    deployment = _container(_one("Deployment"))
    configmap = _one("ConfigMap")
    assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in deployment["envFrom"]
    names["configmap.yaml"] = set(configmap["data"])
    for kind in ("Deployment", "Job"):
        container = _container(_one(kind))
        names[kind] = {entry["name"] for entry in container.get("env", [])}
    return names


def _compose_env() -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for compose_file in COMPOSE_FILES:
        for name, service in _compose(compose_file)["services"].items():
            if service.get("image") == "studyroom:local":
                environment = service.get("environment", {})
                if isinstance(environment, list):
                    environment = [entry.split("=", 1)[0] for entry in environment]
                names[f"{compose_file}:{name}"] = set(environment)
    return names


def test_every_setting_named_exists() -> None:
    used = {**_manifest_env(), **_compose_env()}
    unknown = {
        where: sorted(name for name in names if name not in SETTINGS_ENV | FOREIGN_ENV)
        for where, names in used.items()
    }
    assert {where: names for where, names in unknown.items() if names} == {}


def test_secrets_come_from_the_secret() -> None:
    configmap = _one("ConfigMap")["data"]
    env = {entry["name"]: entry for entry in _container(_one("Deployment"))["env"]}
    for name in ("STUDYROOM_SECRET_KEY", "STUDYROOM_DATABASE_URL", "OPENAI_API_KEY"):
        assert name not in configmap
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "studyroom"


def test_migration_job_runs_the_servers_image_straight_to_postgres() -> None:
    job = _one("Job")
    container = _container(job)
    server = _container(_one("Deployment"))
    assert container["command"] == ["studyroom", "migrate"]
    assert container["image"] == server["image"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"Never", "OnFailure"}

    def database_key(env: list[dict[str, Any]]) -> str:
        (entry,) = [entry for entry in env if entry["name"] == "STUDYROOM_DATABASE_URL"]
        key: str = entry["valueFrom"]["secretKeyRef"]["key"]
        return key

    # The pooled URL is the servers'; the Job's is PostgreSQL's own.
    assert database_key(container["env"]) != database_key(server["env"])
    assert "envFrom" not in container
    assert "STUDYROOM_DATABASE_PGBOUNCER" not in {entry["name"] for entry in container["env"]}
    assert _one("ConfigMap")["data"]["STUDYROOM_DATABASE_PGBOUNCER"] == "true"


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_proxy_balances_over_the_replicas(compose_file: str) -> None:
    compose = _compose(compose_file)
    upstream = set(re.findall(r"^\s*server\s+([\w-]+):8000\b", NGINX_CONF.read_text(), re.M))
    assert set(_servers(compose)) == upstream
    proxy = compose["services"]["proxy"]
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]


def test_single_redis_compose_uses_one_redis_and_postgres_directly() -> None:
    compose = _compose("docker-compose.yml")
    for service in _servers(compose).values():
        env = service["environment"]
        assert urlsplit(env["STUDYROOM_REDIS_URL"]).scheme == "redis"
        assert urlsplit(env["STUDYROOM_DATABASE_URL"]).hostname == "postgres"


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    assert isinstance(command, list)
    return [str(part) for part in command]


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_cluster_compose_points_the_replicas_at_the_cluster_and_pgbouncer() -> None:
    compose = _compose("docker-compose.cluster.yml")
    services = compose["services"]
    servers = _servers(compose)
    assert len(servers) >= 2
    for service in servers.values():
        env = service["environment"]
        redis_url = env["STUDYROOM_REDIS_URL"]
        assert redis_url.startswith("redis+cluster://")
        seeds = [
            seed.rsplit(":", 1) for seed in redis_url.removeprefix("redis+cluster://").split(",")
        ]
        for host, port in seeds:
            node = services[host]
            assert node["image"] == "redis:7"
            assert port == "6379"
            assert _option(_command(node), "--cluster-enabled") == "yes"
        database = urlsplit(env["STUDYROOM_DATABASE_URL"])
        assert database.scheme == "postgresql+asyncpg"
        assert services[database.hostname or ""]["image"].startswith("edoburu/pgbouncer:")
        assert env["STUDYROOM_DATABASE_PGBOUNCER"] == "true"
        waits_for = service["depends_on"]
        assert waits_for["migrate"]["condition"] == "service_completed_successfully"
        assert waits_for["redis-cluster-init"]["condition"] == "service_completed_successfully"
        assert waits_for[database.hostname]["condition"] == "service_healthy"

    pgbouncer = services["pgbouncer"]["environment"]
    assert pgbouncer["POOL_MODE"] == "transaction"
    assert services[pgbouncer["DB_HOST"]]["image"] == "postgres:16"

    migrate = services["migrate"]
    assert _command(migrate) == ["studyroom", "migrate"]
    direct = urlsplit(migrate["environment"]["STUDYROOM_DATABASE_URL"])
    assert services[direct.hostname or ""]["image"] == "postgres:16"
    assert migrate["environment"]["STUDYROOM_DATABASE_PGBOUNCER"] == "false"


def test_cluster_compose_runs_three_masters_with_a_replica_each() -> None:
    services = _compose("docker-compose.cluster.yml")["services"]
    nodes = {
        name: _command(service)
        for name, service in services.items()
        if service.get("image") == "redis:7" and _command(service)[0] == "redis-server"
    }
    assert len(nodes) == 6
    for command in nodes.values():
        assert _option(command, "--cluster-enabled") == "yes"
        # Live state only, as with the single Redis.
        assert _option(command, "--save") == ""
        assert _option(command, "--appendonly") == "no"

    init = services["redis-cluster-init"]
    script = "\n".join(_command(init))
    assert "--cluster create" in script
    assert "--cluster-replicas 1" in script
    assert "--cluster-yes" in script
    assert {name: dep["condition"] for name, dep in init["depends_on"].items()} == dict.fromkeys(
        nodes, "service_healthy"
    )
    assert init["restart"] == "no"
