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
Checks of values that templates alone cannot express.
*/}}
{{- define "modelops-operator.validate" -}}
{{- if ne (int .Values.replicaCount) 1 }}
{{- fail "replicaCount must be 1: the operator runs kopf in standalone mode without leader election" }}
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
*/}}
{{- define "modelops-operator.namespacedRules" -}}
# The operator's own kinds: watch them, patch metadata (kopf's finalizers and
# last-handled-configuration annotation) and write their status.
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments", "driftmonitors", "retrainpolicies"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments/status", "driftmonitors/status", "retrainpolicies/status"]
  verbs: ["get", "patch", "update"]
# Owner references with blockOwnerDeletion on child objects need update on the owner's
# finalizers subresource where the OwnerReferencesPermissionEnforcement admission plugin runs.
- apiGroups: ["modelops.dev"]
  resources: ["modeldeployments/finalizers", "driftmonitors/finalizers", "retrainpolicies/finalizers"]
  verbs: ["update"]
# Child objects the operator renders and owns.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
- apiGroups: ["monitoring.coreos.com"]
  resources: ["prometheusrules"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
{{- if .Values.prometheus.readSecrets }}
# Prometheus credentials a ModelDeployment names (analysis.prometheus.*SecretRef): one GET per
# pass that queries Prometheus. No list or watch, so the operator never holds every Secret.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
{{- end }}
# Read-only: pod readiness, Job termination messages and logs, serving endpoints.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
# Events about the objects it handles (kopf posts core events; the operator also uses events.k8s.io).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Rules for cluster-scoped resources; always in the ClusterRole.
*/}}
{{- define "modelops-operator.clusterRules" -}}
# kopf scans CRDs to resolve the resources it serves and notices when they change.
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- if not .Values.watch.allNamespaces }}
# With a list of namespaces, kopf lists and watches namespaces to learn which of them
# exist (and start serving one when it is created). Cluster-wide it does not.
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end }}
{{- end }}
