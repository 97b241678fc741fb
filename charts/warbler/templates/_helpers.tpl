{{/*
Names. Names are cut to 63 characters, the limit of a DNS label.
*/}}
{{- define "warbler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "warbler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Cluster-scoped objects carry the release namespace in their name, so that
two releases of the same name in different namespaces do not collide.
*/}}
{{- define "warbler.clusterName" -}}
{{- printf "%s-%s" (include "warbler.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
The ConfigMap on which the controller publishes its -mesh-provider for
kubectl canary.
*/}}
{{- define "warbler.clientConfigName" -}}
{{- printf "%s-config" (include "warbler.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "warbler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "warbler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "warbler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "warbler.labels" -}}
helm.sh/chart: {{ include "warbler.chart" . }}
{{ include "warbler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: warbler
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "warbler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "warbler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "warbler.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The replica count, checked: replicas that do not elect a leader would all
reconcile the same canaries and fight over their status. Flagger's
leaderElection.replicaCount is honoured when set.
*/}}
{{- define "warbler.replicas" -}}
{{- $replicas := int (default .Values.replicas .Values.leaderElection.replicaCount) }}
{{- if lt $replicas 0 }}
{{- fail (printf "replicas: %d is negative" $replicas) }}
{{- end }}
{{- if and (gt $replicas 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicas: %d needs leaderElection.enabled=true, or every replica would reconcile the same canaries" $replicas) }}
{{- end }}
{{- $replicas }}
{{- end }}

{{/*
A list value given as a comma-separated string (Flagger's form) or a YAML
list, joined with commas.
*/}}
{{- define "warbler.commaList" -}}
{{- if kindIs "slice" . }}
{{- join "," . }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/*
The Secret with the alert webhook URLs, or nothing when there is none.
*/}}
{{- define "warbler.notifierSecret" -}}
{{- if .Values.notifiers.existingSecret }}
{{- .Values.notifiers.existingSecret }}
{{- else if or .Values.slack.url .Values.msteams.url }}
{{- printf "%s-notifiers" (include "warbler.fullname" .) }}
{{- end }}
{{- end }}

{{/*
What the controller reads and writes, and nothing else. The same rules
serve the ClusterRole and, with `namespace` set, the Role.
*/}}
{{- define "warbler.rules" -}}
# Canary, MetricTemplate and AlertProvider: the API Warbler serves.
- apiGroups: ["flagger.app"]
  resources: ["canaries"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["flagger.app"]
  resources: ["canaries/status"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["flagger.app"]
  resources: ["canaries/finalizers"]
  verbs: ["update"]
- apiGroups: ["flagger.app"]
  resources: ["metrictemplates", "alertproviders"]
  verbs: ["get", "list", "watch"]
# Targets and their primaries.
- apiGroups: ["apps"]
  resources: ["deployments", "daemonsets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# The apex, primary and canary Services; tracked ConfigMaps and Secrets
# (watched by metadata, copied to "<name>-primary"; Secrets also hold
# metric provider credentials).
- apiGroups: [""]
  resources: ["services", "configmaps", "secrets"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# Events on canaries (both APIs: client-go records to either).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# "<hpa>-primary".
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# The kubernetes:replicas router fills the apex Service's EndpointSlice.
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# The routers' objects.
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["gateways"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["split.smi-spec.io"]
  resources: ["trafficsplits"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["getambassador.io"]
  resources: ["mappings"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["networking.istio.io"]
  resources: ["virtualservices", "destinationrules"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# Knative Service targets: the knative router writes their traffic and
# the primary-revision annotation; revisions tell readiness.
- apiGroups: ["serving.knative.dev"]
  resources: ["services"]
  verbs: ["get", "list", "watch", "update", "patch"]
- apiGroups: ["serving.knative.dev"]
  resources: ["revisions"]
  verbs: ["get", "list", "watch"]
# KEDA: "<so>-primary", and pausing the target's ScaledObject.
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["projectcontour.io"]
  resources: ["httpproxies"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["gateway.solo.io"]
  resources: ["routetables"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["gloo.solo.io"]
  resources: ["upstreams"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["traefik.io"]
  resources: ["traefikservices"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# Kuma's TrafficRoute is cluster-scoped: no owner reference can delete it,
# so the router's Finalize does.
- apiGroups: ["kuma.io"]
  resources: ["trafficroutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
- apiGroups: ["kuma.io"]
  resources: ["meshhttproutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
- apiGroups: ["apisix.apache.org"]
  resources: ["apisixroutes"]
  verbs: ["get", "list", "watch", "create", "update", "patch"]
# The keptn metric provider reads KeptnMetrics and runs Analyses.
- apiGroups: ["metrics.keptn.sh"]
  resources: ["keptnmetrics"]
  verbs: ["get"]
- apiGroups: ["metrics.keptn.sh"]
  resources: ["analyses"]
  verbs: ["get", "create", "delete"]
{{- end }}
