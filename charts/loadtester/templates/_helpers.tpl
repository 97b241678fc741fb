{{/*
Names. Names are cut to 63 characters, the limit of a DNS label. With the
release named flagger-loadtester (or fullnameOverride set), the Service is
that name, so canaries keep calling http://<name>.<namespace>/.
*/}}
{{- define "loadtester.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loadtester.fullname" -}}
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
{{- define "loadtester.clusterName" -}}
{{- printf "%s-%s" (include "loadtester.fullname" .) .Release.Namespace }}
{{- end }}

{{- define "loadtester.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loadtester.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadtester.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "loadtester.labels" -}}
helm.sh/chart: {{ include "loadtester.chart" . }}
{{ include "loadtester.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: loadtester
app.kubernetes.io/part-of: warbler
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "loadtester.serviceAccountName" -}}
{{- $name := coalesce .Values.serviceAccount.name .Values.serviceAccountName }}
{{- if .Values.serviceAccount.create }}
{{- default (include "loadtester.fullname" .) $name }}
{{- else }}
{{- default "default" $name }}
{{- end }}
{{- end }}

{{- define "loadtester.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The Secret with the callers' credentials, or nothing when there is none.
*/}}
{{- define "loadtester.authSecret" -}}
{{- if .Values.auth.existingSecret }}
{{- .Values.auth.existingSecret }}
{{- else if or .Values.auth.bearerToken .Values.auth.hmacKey }}
{{- printf "%s-auth" (include "loadtester.fullname" .) }}
{{- end }}
{{- end }}

{{/*
What helm test through the Helm SDK does in a release's namespace: read the
release from its Secrets and record the test run in it, delete the previous
test pods, create the new ones, watch them finish and read their logs.
*/}}
{{- define "loadtester.helmTestRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "update"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- with .Values.rbac.helmTests.extraRules }}
{{ toYaml . }}
{{- end }}
{{- end }}
