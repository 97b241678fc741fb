{{/*
Sharding (docs/scale.md). With sharding.shards, the main Deployment handles
the Canaries without the sharding.warbler.dev/key label, and one Deployment
per shard the Canaries labelled with that shard. Each is a controller of its
own: it watches only its Canaries (-watch-label-selector) and elects its own
leader (the controller derives its Lease from the selector). The templates
below take the root context with .Shard set ("" for the main Deployment).
*/}}
{{- define "warbler.shardFullname" -}}
{{- if .Shard }}
{{- printf "%s-%s" (include "warbler.fullname" .) .Shard | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- include "warbler.fullname" . }}
{{- end }}
{{- end }}

{{/*
A shard's pods are an instance of their own ("<release>-<shard>"), so that
the Deployments' selectors never overlap; the main Deployment's selector is
the one it always had.
*/}}
{{- define "warbler.shardSelectorLabels" -}}
{{- if .Shard }}
app.kubernetes.io/name: {{ include "warbler.name" . }}
app.kubernetes.io/instance: {{ printf "%s-%s" .Release.Name .Shard | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- include "warbler.selectorLabels" . }}
{{- end }}
{{- end }}

{{- define "warbler.watchLabelSelector" -}}
{{- if .Shard }}
{{- printf "sharding.warbler.dev/key in (%s)" .Shard }}
{{- else if .Values.sharding.shards }}
{{- print "!sharding.warbler.dev/key" }}
{{- end }}
{{- end }}
