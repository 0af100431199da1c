{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "modelops-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the objects. A release named "modelops" (a prefix of the chart name)
gives "modelops-operator" rather than "modelops-modelops-operator".
*/}}
{{- define "modelops-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else if hasPrefix .Release.Name $name }}
{{- $name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "modelops-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels that select the operator pod; they never change across upgrades.
*/}}
{{- define "modelops-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelops-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "modelops-operator.labels" -}}
helm.sh/chart: {{ include "modelops-operator.chart" . }}
{{ include "modelops-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: modelops
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
ServiceAccount name.
*/}}
{{- define "modelops-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "modelops-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: repository@digest when a digest is set, else repository:tag.
*/}}
{{- define "modelops-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Namespaces watched when watch.allNamespaces is false: de-duplicated, sorted, at least one.
*/}}
{{- define "modelops-operator.watchNamespaces" -}}
{{- $namespaces := .Values.watch.namespaces | default (list) | uniq | sortAlpha }}
{{- if not $namespaces }}
{{- fail "watch.namespaces must list at least one namespace when watch.allNamespaces is false" }}
{{- end }}
{{- toJson $namespaces }}
{{- end }}

{{/*
Name of the leader election Lease (and of its Role and RoleBinding).
*/}}
{{- define "modelops-operator.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "modelops-operator.fullname" .) }}
{{- end }}

{{/*
The pod's affinity: the `affinity` value, with a podAntiAffinity over nodes rendered from
`podAntiAffinity` (soft|hard) unless `affinity` sets one itself.
*/}}
{{- define "modelops-operator.affinity" -}}
{{- $affinity := deepCopy (.Values.affinity | default dict) }}
{{- if and (ne .Values.podAntiAffinity "none") (not (hasKey $affinity "podAntiAffinity")) }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "modelops-operator.selectorLabels" . | fromYaml)) }}
{{- if eq .Values.podAntiAffinity "hard" }}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) }}
{{- else }}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) }}
{{- end }}
{{- end }}
{{- if $affinity }}
{{- toYaml $affinity }}
{{- end }}
{{- end }}

{{/*
Checks of values that templates alone cannot express.
*/}}
{{- define "modelops-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled: without the Lease every replica would reconcile" }}
{{- end }}
{{- with .Values.leaderElection }}
{{- if not (and (lt (int .retryPeriod) (int .renewDeadline)) (lt (int .renewDeadline) (int .leaseDuration))) }}
{{- fail "leaderElection needs retryPeriod < renewDeadline < leaseDuration" }}
{{- end }}
{{- end }}
{{- if not (has .Values.logFormat (list "json" "text")) }}
{{- fail (printf "logFormat must be json or text, not %q" .Values.logFormat) }}
{{- end }}
{{- if not (has (upper .Values.logLevel) (list "DEBUG" "INFO" "WARNING" "ERROR")) }}
{{- fail (printf "logLevel must be DEBUG, INFO, WARNING or ERROR, not %q" .Values.logLevel) }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.service.enabled" }}
{{- end }}
{{- if eq (int .Values.metrics.port) (int .Values.health.port) }}
{{- fail "metrics.port and health.port must differ" }}
{{- end }}
{{- end }}

{{/*
Rules for the namespaced resources the operator manages. Rendered into the ClusterRole
when watching all namespaces, else into a Role in each watched namespace.

Exactly what the code calls, no more: tests/chart/rbac_needs.py derives the needed
(group, resource, verb) set from operator/modelops (the kube.* calls of the controllers,
the resources kopf watches and indexes, the owner references); tests/chart/test_chart.py
fails when these rules grant more or less. Server-side apply is a PATCH that creates a missing object, so every
applied kind needs create and patch; nothing uses update (PUT).
*/}}
{{- define "modelops-operator.namespacedRules" -}}
# The operator's own kinds: kopf lists and watches them; the controllers read one another
# (a DriftMonitor's ModelDeployment, a RetrainPolicy's DriftMonitor). Only kopf's handlers
# for events are used, so kopf never patches them (no finalizer, no annotations).
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments", "driftmonitors", "retrainpolicies"]
  verbs: ["get", "list", "watch"]
# Status: a JSON merge patch of what changed.
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments/status", "driftmonitors/status", "retrainpolicies/status"]
  verbs: ["patch"]
# Children carry owner references with blockOwnerDeletion (ModelDeployment: serving objects;
# RetrainPolicy: Jobs and baseline ConfigMaps); the OwnerReferencesPermissionEnforcement
# admission plugin, where it runs, asks for update on the owner's finalizers subresource.
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments/finalizers", "retrainpolicies/finalizers"]
  verbs: ["update"]
# Serving children of a ModelDeployment: watched (kopf indexes), read, applied. Deployments,
# HPAs and routes are deleted once no longer rendered (rollout.REMOVABLE); role Services and
# the PDB live as long as their ModelDeployment and go with it (garbage collection).
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# Kept although no released code writes it yet: the per-ModelDeployment PrometheusRule (SLO
# alerts, render/prometheusrule.py) that the operator is about to apply and garbage-collect
# (issue 16, alerts). tests/chart/rbac_needs.py lists it as the one planned grant (PLANNED).
- apiGroups: ["monitoring.coreos.com"]
  resources: ["prometheusrules"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# RetrainPolicy: retraining Jobs (watched, read, applied; never deleted by the operator:
# they are garbage-collected with their policy), the pods of a finished Job (termination
# message), the baseline ConfigMaps it publishes and DriftMonitors read.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "patch"]
{{- if .Values.prometheus.readSecrets }}
# Prometheus credentials a ModelDeployment names (analysis.prometheus.*SecretRef): one GET per
# pass that queries Prometheus. No list or watch, so the operator never holds every Secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
# Events about the objects it handles (kopf posts core/v1 Events; never events.k8s.io).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/*
Rules for cluster-scoped resources; always in the ClusterRole.
*/}}
{{- define "modelops-operator.clusterRules" -}}
# kopf lists and watches CRDs to resolve the resources it serves and notice when they change.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- if not .Values.watch.allNamespaces }}
# With a list of namespaces, kopf lists and watches namespaces to learn which of them
# exist (and start serving one when it is created). Cluster-wide it does not.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
