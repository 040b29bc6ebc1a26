"""README's Prometheus scrape target and alert rules select what ``--kubernetes`` writes: the Service's name and
metrics port, the pods' names and the serving container's name (they named ``beit-serve`` once, so the restart and
readiness alerts could never fire)."""

from __future__ import annotations

import re
from pathlib import Path

from beit_export.triton.kubernetes import KubernetesOptions, manifests

README = Path(__file__).resolve().parents[4] / "README.md"
NAME = "beit-base"  # README's NAME


def _alerts_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("### Metrics and alerts"):text.index("## Deploy on Kubernetes")]


def test_the_scrape_target_and_alert_selectors_match_the_manifests():
    found = manifests(KubernetesOptions(memory_request_mib=512), name=NAME, memory=None)
    deployment, service = found["kubernetes/deployment.yaml"], found["kubernetes/service.yaml"]
    section = _alerts_section()

    metrics_port = next(port["port"] for port in service["spec"]["ports"] if port["name"] == "metrics")
    assert f'targets: ["{service["metadata"]["name"]}:{metrics_port}"]' in section

    containers = {container["name"] for container in deployment["spec"]["template"]["spec"]["containers"]}
    assert set(re.findall(r'container="([^"]+)"', section)) == containers

    pod = f'{deployment["metadata"]["name"]}-5d8f7c9b4-x2x7q'  # a Deployment's pod: NAME-<replicaset>-<pod>
    patterns = re.findall(r'pod=~"([^"]+)"', section)
    assert patterns and all(re.fullmatch(pattern, pod) for pattern in patterns)
    assert not any(re.fullmatch(pattern, f"{NAME}-canary-5d8f7c9b4-x2x7q") for pattern in patterns)
