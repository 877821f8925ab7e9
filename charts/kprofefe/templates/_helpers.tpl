{{/* Names, labels and the image, shared by every template of the chart. */}}

{{/* kprofefe.name: app.kubernetes.io/name of every object. */}}
{{- define "kprofefe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* kprofefe.fullname: the objects' name; the release's name when it holds
the chart's, so `helm install kprofefe` names them kprofefe, as daemonset/ does. */}}
{{- define "kprofefe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kprofefe.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* kprofefe.namespace: where the namespaced objects go (not the release's
namespace: the chart creates this one, see values.yaml). */}}
{{- define "kprofefe.namespace" -}}
{{- .Values.namespace.name -}}
{{- end -}}

{{/* kprofefe.labels: metadata.labels of every object: daemonset/'s two, then
Helm's usual four (the only difference from daemonset/'s objects). */}}
{{- define "kprofefe.labels" -}}
app.kubernetes.io/name: {{ include "kprofefe.name" . }}
app.kubernetes.io/part-of: kprofefe
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* kprofefe.selectorLabels: the DaemonSet's selector, immutable once
created: the same as daemonset/'s, so either install can replace the other. */}}
{{- define "kprofefe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kprofefe.name" . }}
app.kubernetes.io/component: collector
{{- end -}}

{{/* kprofefe.image: repository@digest when a digest is set, else repository:tag
(the tag defaults to the chart's appVersion). */}}
{{- define "kprofefe.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* kprofefe.tokenSecret: the Secret holding profefe's bearer token ("": none). */}}
{{- define "kprofefe.tokenSecret" -}}
{{- if .Values.profefe.tokenSecret -}}
{{- .Values.profefe.tokenSecret -}}
{{- else if .Values.profefe.token -}}
{{- printf "%s-profefe-token" (include "kprofefe.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The mount of profefe's CA bundle (profefe.ca) in the collector. */}}
{{- define "kprofefe.caDir" -}}/etc/kprofefe/profefe-ca{{- end -}}

{{/* Where collector.podCA and collector.podCredentials are mounted. */}}
{{- define "kprofefe.podCADir" -}}/etc/kprofefe/pod-ca{{- end -}}
{{- define "kprofefe.podCredentialsDir" -}}/etc/kprofefe/pod-credentials{{- end -}}

{{/* The spool inside the container (KPROFEFE_SPOOL_DIR); spool.hostPath is
where it lives on the node. */}}
{{- define "kprofefe.spoolDir" -}}/var/lib/kprofefe/spool{{- end -}}

{{/* kprofefe.job: the job label of the collectors' series, in the alerts and
the dashboard: the PodMonitor takes it from the pods' app.kubernetes.io/name
(jobLabel), so it is the chart's name. */}}
{{- define "kprofefe.job" -}}{{ include "kprofefe.name" . }}{{- end -}}

{{/* kprofefe.monitoringMeta: metadata of a monitoring object; call with
(list $ VALUES NAME-SUFFIX): its namespace defaults to namespace.name, its
labels are the chart's and VALUES.labels. */}}
{{- define "kprofefe.monitoringMeta" -}}
{{- $top := index . 0 -}}
{{- $v := index . 1 -}}
name: {{ print (include "kprofefe.fullname" $top) (index . 2) }}
namespace: {{ default (include "kprofefe.namespace" $top) $v.namespace }}
labels:
  {{- $own := include "kprofefe.labels" $top | fromYaml -}}
  {{- merge $own $v.labels | toYaml | nindent 2 }}
{{- end -}}
