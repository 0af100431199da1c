# ruff: noqa: E501  (the stage templates below are kwok's, verbatim but for the changes the docstring lists)
"""kwok's stages and the one fake node it manages.

Run standalone (not through kwokctl), kwok has no built-in behaviour: the stages
below are what make the node Ready, keep its lease alive, and move pods to Running
(with an IP from the node's spec.podCIDR) and away again when deleted. They are kwok
v0.8.0's default stages, copied verbatim from sigs.k8s.io/kwok/kustomize/stage
(Apache-2.0): node/fast, node/heartbeat-with-lease, and pod/fast.

One change: pod-complete (pods owned by a Job) reads two pod annotations, standing in for
what a kubelet reports of a real container: `kwok.modelops.dev/exit-code` (default 0; not
0 makes the pod Failed) and `kwok.modelops.dev/termination-message` (what the container
wrote to /dev/termination-log). Tests put them in a RetrainPolicy's jobTemplate to play a
trainer that succeeds with a given result, or fails.

Two changes make the node behave like a kubelet whose pods the local data plane
(`modelops_devcluster.dataplane`) runs:

- pod-ready: a pod whose containers declare a `readinessProbe` starts Running with Ready=False
  and ContainersReady=False (those containers not ready). The data plane probes the real server
  and sets the conditions; a pod nobody probes stays NotReady, as with a kubelet whose probe
  fails. Pods without a probe become Ready at once, as before. A pod annotated
  `kwok.modelops.dev/probes-pass: "true"` plays a kubelet whose probes pass at once (Ready at
  once, probe or not): for tests without a data plane, where nothing would ever answer a probe.
- pod-delete: a terminating pod is deleted (grace period 0) only once it no longer carries the
  data plane's finalizer `dataplane.modelops.dev/terminate`, which the data plane removes when
  the pod's processes have stopped (preStop hook, SIGTERM, SIGKILL at the end of the grace
  period). Pods the data plane does not run never carry it and go at once, as before. kwok's
  `delete: true` is a plain DELETE with gracePeriodSeconds 0: it does not remove finalizers, so
  the selector has to wait for ours to go.

Pod IPs: kwok's PodIPsWith template function allocates from the node's
spec.podCIDRs[0] (else spec.podCIDR, else kwok's --cidr, default 10.0.0.0/24) with an
in-memory pool, so creating the node with a loopback podCIDR keeps every pod IP on
127.0.0.0/8. The node's InternalIP (and so every pod's hostIP) is kwok's --node-ip.
"""

from __future__ import annotations

from typing import Any

NODE_ANNOTATION = "kwok.x-k8s.io/node"
PROBES_PASS_ANNOTATION = "kwok.modelops.dev/probes-pass"
DATAPLANE_FINALIZER = "dataplane.modelops.dev/terminate"

STAGES_YAML = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type  | Quote}}
      {{ end }}

      {{ $hasInternalIP := false }}
      {{ $hasHostname := false }}
      {{ range .status.addresses }}
        {{ if eq .type "InternalIP" }}
          {{ $hasInternalIP = true }}
        {{ end }}
        {{ if eq .type "Hostname" }}
          {{ $hasHostname = true }}
        {{ end }}
      {{ end }}
      {{ if or (not $hasInternalIP) (not $hasHostname) }}
      addresses:
      {{ end }}
      {{ if not $hasInternalIP }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ end }}
      {{ if not $hasHostname }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}

      allocatable:
      {{ with .status.allocatable }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}
      capacity:
      {{ with .status.capacity }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{ end }}

      {{ $nodeInfo := .status.nodeInfo }}
      {{ $kwokVersion := printf "kwok-%s" Version }}
      nodeInfo:
        architecture: {{ or $nodeInfo.architecture "amd64" }}
        bootID: {{ or $nodeInfo.bootID `""` }}
        containerRuntimeVersion: {{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}
        kernelVersion: {{ or $nodeInfo.kernelVersion $kwokVersion }}
        kubeProxyVersion: {{ or $nodeInfo.kubeProxyVersion $kwokVersion }}
        kubeletVersion: {{ or $nodeInfo.kubeletVersion $kwokVersion }}
        machineID: {{ or $nodeInfo.machineID `""` }}
        operatingSystem: {{ or $nodeInfo.operatingSystem "linux" }}
        osImage: {{ or $nodeInfo.osImage `""` }}
        systemUUID: {{ or $nodeInfo.systemUUID `""` }}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat-with-lease
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: 600000
    jitterDurationMilliseconds: 610000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}

      addresses:
      {{ with .status.addresses }}
      {{ YAML . 1 }}
      {{ else }}
      {{ with NodeIP }}
      - address: {{ . | Quote }}
        type: InternalIP
      {{ end }}
      {{ with NodeName }}
      - address: {{ . | Quote }}
        type: Hostname
      {{ end }}
      {{ end }}

      {{ with NodePort }}
      daemonEndpoints:
        kubeletEndpoint:
          Port: {{ . }}
      {{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $probesPass := false }}
      {{ with .metadata.annotations }}{{ with index . "kwok.modelops.dev/probes-pass" }}{{ if eq . "true" }}{{ $probesPass = true }}{{ end }}{{ end }}{{ end }}
      {{ $ready := true }}
      {{ range .spec.containers }}{{ if .readinessProbe }}{{ if not $probesPass }}{{ $ready = false }}{{ end }}{{ end }}{{ end }}

      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: {{ if $ready }}"True"{{ else }}"False"{{ end }}
        type: Ready
        {{ if not $ready }}reason: ContainersNotReady{{ end }}
      - lastTransitionTime: {{ $now | Quote }}
        status: {{ if $ready }}"True"{{ else }}"False"{{ end }}
        type: ContainersReady
        {{ if not $ready }}reason: ContainersNotReady{{ end }}
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}

      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: {{ if and .readinessProbe (not $probesPass) }}false{{ else }}true{{ end }}
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}

      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        {{ if eq .restartPolicy "Always" }}
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
        {{ else }}
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
      {{ $hostIPs := NodeIPsWith .spec.nodeName }}
      {{ with $hostIPs }}
      hostIP: {{ index . 0 | Quote }}
      hostIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      {{ $podIPs := PodIPsWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) ( or .metadata.name "" ) ( or .metadata.namespace "" ) }}
      {{ with $podIPs }}
      podIP: {{ index . 0 | Quote }}
      podIPs:
      {{ range . }}
      - ip: {{ . | Quote }}
      {{ end }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.metadata.ownerReferences.[].kind'
      operator: 'In'
      values:
      - 'Job'
    - key: '.metadata.annotations["kwok.modelops.dev/run-locally"]'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $root := . }}
      {{ $exit := "0" }}
      {{ $message := "" }}
      {{ with .metadata.annotations }}
      {{ with index . "kwok.modelops.dev/exit-code" }}{{ $exit = . }}{{ end }}
      {{ with index . "kwok.modelops.dev/termination-message" }}{{ $message = . }}{{ end }}
      {{ end }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      {{ $origin := index $root.status.containerStatuses $index }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: {{ $exit }}
            finishedAt: {{ $now | Quote }}
            reason: {{ if eq $exit "0" }}Completed{{ else }}Error{{ end }}
            message: {{ $message | Quote }}
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: {{ if eq $exit "0" }}Succeeded{{ else }}Failed{{ end }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
    - key: '.metadata.finalizers.[]'
      operator: 'NotIn'
      values:
      - 'dataplane.modelops.dev/terminate'
  next:
    delete: true
"""


def node_manifest(name: str, pod_cidr: str) -> dict[str, Any]:
    """The fake node, labelled type=kwok and annotated the way kwok's docs do it.

    kwok's docs also taint fake nodes (kwok.x-k8s.io/node=fake:NoSchedule); this node
    is not tainted, so workloads need no toleration to land on it.
    """
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
            },
            "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
    }
