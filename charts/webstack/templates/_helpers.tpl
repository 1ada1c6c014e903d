{{/* Names and labels for the umbrella's own objects (NOTES and the helm test pod). */}}

{{- define "webstack.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webstack.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webstack.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webstack.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webstack.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "webstack.labels" -}}
helm.sh/chart: {{ include "webstack.chart" . }}
{{ include "webstack.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webstack
{{- end -}}

{{/* The subcharts' Service names, as their helpers compute them (fullnameOverride respected). */}}
{{- define "webstack.nginxService" -}}
{{- .Values.nginx.fullnameOverride | default (printf "%s-nginx" .Release.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webstack.flaskService" -}}
{{- .Values.flask.fullnameOverride | default (printf "%s-flask" .Release.Name) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webstack.mysqlSecret" -}}
{{- .Values.mysql.auth.existingSecret | default (.Values.mysql.fullnameOverride | default (printf "%s-mysql" .Release.Name)) -}}
{{- end -}}

{{/* The test image: the flask image unless overridden (its python does the HTTP calls). */}}
{{- define "webstack.testImage" -}}
{{- $img := .Values.flask.image -}}
{{- $repo := .Values.tests.image.repository | default $img.repository -}}
{{- $tag := .Values.tests.image.tag | default ($img.tag | default .Chart.AppVersion) -}}
{{- $registry := .Values.global.imageRegistry | default $img.registry -}}
{{- if $registry }}{{ printf "%s/%s:%s" $registry $repo $tag }}{{ else }}{{ printf "%s:%s" $repo $tag }}{{ end -}}
{{- end -}}
