#!/usr/bin/python3
"""Validate deploy/ without a cluster: usage check_manifests.py BIN DIR.

Every YAML document has apiVersion/kind/metadata.name and the fields its kind
requires; the DaemonSet is as documented (host network and PID, only
NET_ADMIN, read-only root, seccomp RuntimeDefault, probes on /-/healthy and
/-/ready, requests and limits, all taints tolerated, system-node-critical);
the Service selects the DaemonSet's pods and the ServiceMonitor the Service,
by port name; the PrometheusRule carries exactly the rule groups of
dashboards/alerts.yaml and dashboards/recording.yaml; the container's args
are accepted by the exporter's own flag parser (BIN). Prints one line per
problem; exit 1 if any."""
import glob
import os
import subprocess
import sys

import yaml

BIN, DIR = sys.argv[1], sys.argv[2]
problems = []


def need(cond, msg):
    if not cond:
        problems.append(msg)


def get(d, path, default=None):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


REQUIRED = {
    ("apps/v1", "DaemonSet"): ["spec.selector.matchLabels", "spec.template.spec.containers"],
    ("v1", "Service"): ["spec.selector", "spec.ports"],
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ["spec.selector.matchLabels", "spec.endpoints"],
    ("monitoring.coreos.com/v1", "PrometheusRule"): ["spec.groups"],
}

docs = {}
for path in sorted(glob.glob(os.path.join(DIR, "*.yaml"))):
    with open(path) as f:
        for d in yaml.safe_load_all(f):
            if d is None:
                continue
            where = f"{os.path.basename(path)}: {d.get('kind')}"
            key = (d.get("apiVersion"), d.get("kind"))
            need(key in REQUIRED, f"{where}: unknown apiVersion/kind {key}")
            need(bool(get(d, "metadata.name")), f"{where}: no metadata.name")
            for req in REQUIRED.get(key, []):
                need(get(d, req) is not None, f"{where}: missing {req}")
            docs[d.get("kind")] = d

ds = docs.get("DaemonSet", {})
pod = get(ds, "spec.template.spec", {})
need(get(ds, "spec.selector.matchLabels") and
     all(get(ds, "spec.template.metadata.labels", {}).get(k) == v
         for k, v in get(ds, "spec.selector.matchLabels", {}).items()),
     "DaemonSet: selector does not match the pod template labels")
need(pod.get("hostNetwork") is True, "DaemonSet: hostNetwork must be true")
need(pod.get("hostPID") is True, "DaemonSet: hostPID must be true (transactions owners)")
need({"operator": "Exists"} in (pod.get("tolerations") or []), "DaemonSet: must tolerate all taints")
need(pod.get("priorityClassName") == "system-node-critical", "DaemonSet: priorityClassName")
need(get(pod, "securityContext.seccompProfile.type") == "RuntimeDefault", "DaemonSet: seccomp RuntimeDefault")
need(pod.get("automountServiceAccountToken") is False, "DaemonSet: automountServiceAccountToken must be false")
containers = pod.get("containers") or []
need(len(containers) == 1, "DaemonSet: exactly one container")
c = containers[0] if containers else {}
sc = c.get("securityContext", {})
need(sc.get("readOnlyRootFilesystem") is True, "container: readOnlyRootFilesystem")
need(sc.get("allowPrivilegeEscalation") is False, "container: allowPrivilegeEscalation false")
need(get(sc, "capabilities.drop") == ["ALL"], "container: capabilities.drop [ALL]")
need(get(sc, "capabilities.add") == ["NET_ADMIN"], "container: capabilities.add exactly [NET_ADMIN]")
need(get(c, "livenessProbe.httpGet.path") == "/-/healthy", "container: liveness probe on /-/healthy")
need(get(c, "readinessProbe.httpGet.path") == "/-/ready", "container: readiness probe on /-/ready")
for k in ("requests.cpu", "requests.memory", "limits.memory"):
    need(get(c, "resources." + k) is not None, f"container: resources.{k}")
ports = {p["name"]: p for p in c.get("ports", [])}
need("metrics" in ports, "container: a port named metrics")
args = [a.replace("$(HOST_IP)", "127.0.0.1") for a in c.get("args", [])]
r = subprocess.run([BIN] + args + ["--version"], capture_output=True, text=True)
need(r.returncode == 0, f"container args rejected by the exporter: {r.stderr.strip()}")

svc = docs.get("Service", {})
need(get(svc, "spec.selector") == get(ds, "spec.selector.matchLabels"),
     "Service: selector differs from the DaemonSet's")
svc_ports = {p.get("name"): p for p in get(svc, "spec.ports", [])}
need("metrics" in svc_ports and svc_ports["metrics"].get("targetPort") in ("metrics", ports.get("metrics", {}).get("containerPort")),
     "Service: port metrics must target the container's metrics port")

sm = docs.get("ServiceMonitor", {})
need(all(get(svc, "metadata.labels", {}).get(k) == v
         for k, v in get(sm, "spec.selector.matchLabels", {}).items()),
     "ServiceMonitor: selector does not match the Service's labels")
for ep in get(sm, "spec.endpoints", []):
    need(ep.get("port") in svc_ports, f"ServiceMonitor: endpoint port {ep.get('port')} not in the Service")

pr = docs.get("PrometheusRule")
need(pr is not None, "no PrometheusRule")
if pr:
    want = []
    for f in ("alerts.yaml", "recording.yaml"):
        p = os.path.join(DIR, "..", "dashboards", f)
        with open(p) as fh:
            want += yaml.safe_load(fh)["groups"]
    need(get(pr, "spec.groups") == want,
         "PrometheusRule: groups differ from dashboards/alerts.yaml + recording.yaml (run deploy/gen-prometheusrule.py)")

for p in problems:
    print(p)
print(f"checked {len(docs)} manifests: {len(problems)} problems")
sys.exit(1 if problems else 0)
