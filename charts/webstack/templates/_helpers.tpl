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

{{/* The one image reference shape (as each subchart's <chart>.imageRef): digest wins over tag. */}}
{{- define "webstack.imageRef" -}}
{{- $img := .image -}}
{{- $registry := .global.imageRegistry | default $img.registry -}}
{{- $ref := ternary (printf "@%s" ($img.digest | default "")) (printf ":%s" ($img.tag | default .appVersion)) (ne ($img.digest | default "") "") -}}
{{- if $registry -}}{{ printf "%s/%s%s" $registry $img.repository $ref }}{{- else -}}{{ printf "%s%s" $img.repository $ref }}{{- end -}}
{{- end -}}

{{/*
The test image: the flask image block (its digest included) unless tests.image names another; a
tests.image.repository or tag replaces the flask block's digest, tests.image.digest wins over all.
*/}}
{{- define "webstack.testImage" -}}
{{- $flask := .Values.flask.image -}}
{{- $own := .Values.tests.image -}}
{{- $overridden := or $own.repository $own.tag -}}
{{- $img := dict
    "registry" ($own.registry | default $flask.registry)
    "repository" ($own.repository | default $flask.repository)
    "tag" ($own.tag | default $flask.tag)
    "digest" ($own.digest | default (ternary "" ($flask.digest | default "") (not (empty $overridden)))) -}}
{{- include "webstack.imageRef" (dict "image" $img "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}
