"""deploy/k8s holds the rules a real cluster needs, each asserted on the manifests.

One image reference (kustomize's ``images:``); Secrets made outside the
kustomization, so ``kubectl apply -k`` never overwrites them; Redis with a
password, ``maxmemory`` and ``noeviction``, reached by syncer's pods only;
liveness and readiness for workers, beat and the metrics service; a hardened
securityContext on every container; a deadline on the planner; no
``envFrom`` that turns a file into environment variables. The Redis command
itself runs in ``test_k8s_redis.py``, the probe commands in
``tests/fleet/test_probes.py``.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest

from syncer.cli.main import build_parser
from syncer.cli.probe import cmd_probe
from syncer.fleet.protocol import settings
from tests.support.k8s import IMAGE, ROOT, Pod, by_kind, env, kustomization, manifests, pods
from tests.support.k8s import rendered as render

DOCS = manifests()
PODS = list(pods(DOCS))
SYNCER_PODS = [p for p in PODS if p.labels.get("app.kubernetes.io/component") != "redis"]
DEFAULTS = (ROOT / "syncer" / "defaults.py").read_text()
#: ``kubectl create secret generic NAME --from-literal=KEY=…`` (or ``--from-file=KEY=…``).
_CREATE_SECRET = re.compile(
    r"kubectl create secret generic ([\w-]+) --from-(?:literal|file)=(\w[\w.]*)="
)


def _ids(items: list[Pod]) -> list[str]:
    return [p.name for p in items]


def _workload(name: str) -> dict[str, Any]:
    return next(d for _, d in DOCS if d["metadata"]["name"] == name and d["kind"] != "Service")


def _container(name: str) -> dict[str, Any]:
    [pod] = [p for p in PODS if p.name.endswith(f"/{name}")]
    container: dict[str, Any] = pod.spec["containers"][0]
    return container


# -- the image ---------------------------------------------------------------------------


def test_every_syncer_container_names_the_one_image_kustomize_rewrites() -> None:
    [entry] = [i for i in kustomization()["images"] if i["name"] == IMAGE]
    assert entry["newName"] and entry["newTag"] and entry["newTag"] != "latest"
    for pod in SYNCER_PODS:
        assert {c["image"] for c in pod.containers} == {IMAGE}, pod.name


def test_kustomize_puts_the_built_image_in_every_syncer_container() -> None:
    [entry] = [i for i in kustomization()["images"] if i["name"] == IMAGE]
    built = f"{entry['newName']}:{entry['newTag']}"
    images = {
        c["image"]
        for p in pods([(d["metadata"]["name"], d) for d in render()])
        for c in p.containers
    }
    assert built in images and IMAGE not in images, images


# -- Secrets -----------------------------------------------------------------------------


def _secret_refs() -> set[tuple[str, str]]:
    """Every (Secret, key) a pod reads: env values, and the files of Secret volumes."""
    refs = set()
    for pod in PODS:
        for container in pod.containers:
            for item in container.get("env") or []:
                ref = (item.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
            assert not [e for e in container.get("envFrom") or [] if "secretRef" in e], pod.name
        for volume in pod.spec.get("volumes") or []:
            if "secret" in volume:
                refs.add((volume["secret"]["secretName"], "auth.yaml"))
    return refs


def test_no_secret_is_applied_by_the_kustomization() -> None:
    # `kubectl apply -k` would overwrite real credentials with a placeholder.
    assert not [name for name, doc in DOCS if doc["kind"] == "Secret"]
    assert "secretGenerator" not in kustomization()


@pytest.mark.parametrize("where", ["docs/deployment.md", "deploy/k8s/kustomization.yaml"])
def test_every_secret_a_pod_reads_is_created_by_a_documented_command(where: str) -> None:
    text = (ROOT / where).read_text()
    documented = set(_CREATE_SECRET.findall(text))
    refs = _secret_refs()
    assert {("syncer-redis", "password"), ("syncer-auth", "auth.yaml")} <= refs
    assert refs <= documented, f"{where} does not say how to create {refs - documented}"


# -- Redis -------------------------------------------------------------------------------


def _redis_args() -> list[str]:
    args: list[str] = _container("syncer-redis")["args"]
    return args


def _flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([a-zA-Z]*)", size).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "mb": 1 << 20, "gb": 1 << 30, "Mi": 1 << 20, "Gi": 1 << 30}[unit]


def test_redis_requires_the_password_and_never_evicts() -> None:
    redis = _container("syncer-redis")
    script = redis["command"][2]
    assert "requirepass" in script and "$REDIS_PASSWORD" in script
    assert env(redis)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "syncer-redis"
    args = _redis_args()
    assert _flag(args, "--maxmemory-policy") == "noeviction"
    limit = _bytes(redis["resources"]["limits"]["memory"])
    assert 0 < _bytes(_flag(args, "--maxmemory")) <= limit * 0.8, "room for the AOF rewrite"
    assert _flag(args, "--appendonly") == "yes"


def test_every_syncer_pod_reaches_redis_with_the_password() -> None:
    for pod in SYNCER_PODS:
        variables = list(env(pod.spec["containers"][0]))
        url = env(pod.spec["containers"][0])["SYNCER_REDIS_URL"]["value"]
        # $(VAR) expands only from a variable defined before it in the same list.
        assert variables.index("REDIS_PASSWORD") < variables.index("SYNCER_REDIS_URL"), pod.name
        assert url == "redis://:$(REDIS_PASSWORD)@syncer-redis:6379/0", pod.name
        assert not settings.redis_url_problem(url.replace("$(REDIS_PASSWORD)", "0123abcd"))


def test_only_syncers_pods_may_reach_redis() -> None:
    policy = by_kind([d for _, d in DOCS], "NetworkPolicy")["syncer-redis"]["spec"]
    [redis] = [p for p in PODS if p.labels.get("app.kubernetes.io/component") == "redis"]
    assert policy["podSelector"]["matchLabels"].items() <= redis.labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    [rule] = policy["ingress"]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]
    [source] = rule["from"]
    assert set(source) == {"podSelector"}, "pods of this namespace only, no namespace or IP block"
    allowed = source["podSelector"]["matchLabels"]
    for pod in SYNCER_PODS:
        assert allowed.items() <= pod.labels.items(), f"{pod.name} could not reach Redis"
    service = by_kind([d for _, d in DOCS], "Service")["syncer-redis"]
    assert service["spec"]["ports"][0]["port"] == 6379


# -- probes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["syncer-worker", "syncer-beat", "syncer-metrics"])
def test_workers_beat_and_metrics_have_liveness_and_readiness(name: str) -> None:
    container = _container(name)
    for kind in ("readinessProbe", "livenessProbe"):
        probe = container[kind]
        if "exec" in probe:
            command = probe["exec"]["command"]
            assert command[:2] == ["syncer", "probe"], command
            args = build_parser().parse_args(command[1:])
            assert args.func is cmd_probe and args.what == name.removeprefix("syncer-")
            assert probe["timeoutSeconds"] >= 5, "a Python start and a Redis round trip"
        else:
            port = probe["httpGet"]["port"]
            assert port in {p["name"] for p in container["ports"]}, probe
    live = container["livenessProbe"]
    # A restart only after a while: a Redis blip must not restart the fleet.
    assert live.get("periodSeconds", 10) * live.get("failureThreshold", 3) >= 90


def test_every_deployment_says_when_it_is_ready() -> None:
    for pod in PODS:
        if pod.kind == "Deployment":
            assert all("readinessProbe" in c for c in pod.containers), pod.name


# -- securityContext ---------------------------------------------------------------------


@pytest.mark.parametrize("pod", PODS, ids=_ids(PODS))
def test_every_container_runs_hardened(pod: Pod) -> None:
    assert pod.spec.get("automountServiceAccountToken") is False, "syncer never calls the API"
    for container in pod.containers:
        ctx = pod.security(container)
        where = f"{pod.name}: {container['name']}"
        assert ctx.get("runAsNonRoot") is True and ctx.get("runAsUser", 0) != 0, where
        assert ctx.get("allowPrivilegeEscalation") is False, where
        assert ctx.get("readOnlyRootFilesystem") is True, where
        assert ctx.get("capabilities") == {"drop": ["ALL"]}, where
        assert ctx.get("seccompProfile") == {"type": "RuntimeDefault"}, where


@pytest.mark.parametrize("pod", PODS, ids=_ids(PODS))
def test_a_read_only_root_still_has_a_writable_tmp(pod: Pod) -> None:
    empty = {v["name"] for v in pod.spec.get("volumes") or [] if "emptyDir" in v}
    for container in pod.containers:
        mounts = {m["mountPath"]: m for m in container.get("volumeMounts") or []}
        assert mounts["/tmp"]["name"] in empty, f"{pod.name}: {container['name']}"
        assert not mounts["/tmp"].get("readOnly")


# -- the planner -------------------------------------------------------------------------


def test_the_planner_gives_up_following_after_a_deadline() -> None:
    cronjob = _workload("syncer-plan")["spec"]
    assert cronjob["suspend"] is True, "a template for `kubectl create job --from`, never run"
    job = cronjob["jobTemplate"]["spec"]
    assert 0 < job["activeDeadlineSeconds"] <= 24 * 3600
    assert job["backoffLimit"] == 0, "a second plan of the same rules is not a retry"
    assert "--wait" in job["template"]["spec"]["containers"][0]["args"]


def test_the_docs_run_the_planner_from_the_template() -> None:
    for page in ("README.md", "docs/deployment.md"):
        assert "--from=cronjob/syncer-plan" in (ROOT / page).read_text(), page
    header = (ROOT / "deploy" / "k8s" / "planner.yaml").read_text()
    [command] = [line for line in header.splitlines() if "kubectl create job" in line]
    words = shlex.split(command.lstrip("# "))
    assert words[:3] == ["kubectl", "create", "job"] and "--from=cronjob/syncer-plan" in words


# -- environment -------------------------------------------------------------------------


def test_env_from_brings_only_syncers_own_variables() -> None:
    configmaps = by_kind([d for _, d in DOCS], "ConfigMap")
    for pod in PODS:
        for container in pod.containers:
            for source in container.get("envFrom") or []:
                data = configmaps[source["configMapRef"]["name"]]["data"]
                for key in data:
                    assert re.fullmatch(r"SYNCER_[A-Z_]+", key), f"{pod.name}: {key}"
                    assert f'"{key}"' in DEFAULTS, f"{pod.name}: syncer never reads {key}"


def test_every_syncer_variable_a_container_sets_is_one_syncer_reads() -> None:
    for pod in PODS:
        for container in pod.containers:
            for name in env(container):
                if name.startswith("SYNCER_"):
                    assert f'"{name}"' in DEFAULTS, f"{pod.name}: syncer never reads {name}"


def test_the_rules_file_reaches_the_planner_as_a_file_only() -> None:
    images = by_kind([d for _, d in DOCS], "ConfigMap")["syncer-images"]
    assert set(images["data"]) == {"images.yaml"}
    for pod in PODS:
        for container in pod.containers:
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom") or []]
            assert "syncer-images" not in refs, pod.name
