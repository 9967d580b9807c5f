"""The cluster recipe's files, checked offline: the Kubernetes manifests against the API's schemas
(kubernetes-validate, strict: an unknown or misspelt field fails) and against what the package
does (the readiness path, the drain's time, the affinity cookie), the HAProxy configuration with
`haproxy -c`."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from gradio_webrtc.replica import DEFAULT_DRAIN_S, READY_PATH

CLUSTER = Path(__file__).resolve().parent.parent / "deploy" / "cluster"
VERSION = kubernetes_validate.latest_version()


def documents() -> list[dict]:
    return [d for f in sorted((CLUSTER / "k8s").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d]


def by_kind(kind: str, name: str) -> dict:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


@pytest.mark.parametrize("doc", documents(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid_kubernetes(doc):
    kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_catches_a_misspelt_field():
    broken = copy.deepcopy(by_kind("Deployment", "voice-app"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def test_the_manifests_match_the_package():
    app = by_kind("Deployment", "voice-app")["spec"]["template"]["spec"]
    container = app["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert "httpGet" not in container["livenessProbe"], "a full replica is alive: liveness is not readiness"
    env = {e["name"]: e for e in container["env"]}
    drain = float(env["GRADIO_WEBRTC_DRAIN_S"]["value"])
    assert drain == DEFAULT_DRAIN_S
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert app["terminationGracePeriodSeconds"] > pre_stop + drain, "the grace period covers the drain"
    assert env["GRADIO_WEBRTC_TURN_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "turn-secret"
    coturn = by_kind("Deployment", "coturn")["spec"]["template"]["spec"]["containers"][0]
    assert "--use-auth-secret" in coturn["args"] and "--static-auth-secret=$(TURN_SECRET)" in coturn["args"]
    cookie = by_kind("Ingress", "voice-app")["metadata"]["annotations"]
    assert cookie["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    haproxy = (CLUSTER / "haproxy.cfg").read_text()
    name = re.search(r"^\s*cookie (\S+) insert", haproxy, re.M)
    assert name and cookie["nginx.ingress.kubernetes.io/session-cookie-name"] == name[1]
    assert env["GRADIO_WEBRTC_AFFINITY_COOKIE"]["value"] == name[1]
    assert f"uri {READY_PATH}" in haproxy


def test_the_haproxy_configuration_is_valid(tmp_path):
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.fail("haproxy is not installed (make system-deps; .ci/run installs it)")
    cfg = (CLUSTER / "haproxy.cfg").read_text().replace("FRONT_BIND", "127.0.0.1:8000")
    cfg += "    server r1 127.0.0.1:7860 cookie r1 check\n"
    (tmp_path / "haproxy.cfg").write_text(cfg)
    result = subprocess.run([binary, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
