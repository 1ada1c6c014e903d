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

{{/*
A subchart's full name exactly as its own <chart>.fullname computes it: fullnameOverride, else
<release>-<nameOverride or chart>. (dict "values" .Values.<chart> "chart" "<chart>" "release" .Release.Name)
*/}}
{{- define "webstack.subchartFullname" -}}
{{- if .values.fullnameOverride -}}
{{- .values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .release (include "webstack.subchartName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A subchart's app.kubernetes.io/name label, as its <chart>.name computes it. */}}
{{- define "webstack.subchartName" -}}
{{- .values.nameOverride | default .chart | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The subcharts' Service names, as their helpers compute them (name overrides respected). */}}
{{- define "webstack.nginxService" -}}
{{- include "webstack.subchartFullname" (dict "values" .Values.nginx "chart" "nginx" "release" .Release.Name) -}}
{{- end -}}

{{- define "webstack.flaskService" -}}
{{- include "webstack.subchartFullname" (dict "values" .Values.flask "chart" "flask" "release" .Release.Name) -}}
{{- end -}}

{{- define "webstack.mysqlFullname" -}}
{{- include "webstack.subchartFullname" (dict "values" .Values.mysql "chart" "mysql" "release" .Release.Name) -}}
{{- end -}}

{{- define "webstack.mysqlSecret" -}}
{{- .Values.mysql.auth.existingSecret | default (include "webstack.mysqlFullname" .) -}}
{{- end -}}

{{/*
Render-time guards for what one subchart predicts of a sibling: a chart cannot read another chart's
values, so nginx's upstream, flask's database host and Secret and the NetworkPolicies' allowed apps
default to the siblings' default names. When an override renames a sibling, the prediction must be
set by hand: a render whose defaults would name something no chart creates fails here.
*/}}
{{- define "webstack.validate" -}}
{{- $release := .Release.Name -}}
{{- $v := .Values -}}
{{- if and $v.nginx.enabled $v.flask.enabled (not $v.nginx.upstream.host) -}}
{{- include "webstack.sameName" (dict "want" (include "webstack.flaskService" .) "got" (printf "%s-flask" $release) "what" "flask's Service" "renamed" "flask" "set" "nginx.upstream.host") -}}
{{- end -}}
{{- if and $v.mysql.enabled $v.flask.enabled (not $v.flask.externalDatabase.host) -}}
{{- if not $v.flask.database.host -}}
{{- include "webstack.sameName" (dict "want" (include "webstack.mysqlFullname" .) "got" (printf "%s-mysql" $release) "what" "MySQL's Service" "renamed" "mysql" "set" "flask.database.host") -}}
{{- end -}}
{{- if not $v.flask.database.existingSecret -}}
{{- include "webstack.sameName" (dict "want" (include "webstack.mysqlSecret" .) "got" (printf "%s-mysql" $release) "what" "MySQL's Secret" "renamed" "mysql" "set" "flask.database.existingSecret") -}}
{{- end -}}
{{- if $v.mysql.networkPolicy.enabled -}}
{{- include "webstack.allowedApp" (dict "app" (include "webstack.subchartName" (dict "values" $v.flask "chart" "flask")) "who" "flask" "list" $v.mysql.networkPolicy.allowedApps "where" "mysql.networkPolicy.allowedApps") -}}
{{- end -}}
{{- end -}}
{{- if and $v.flask.enabled $v.nginx.enabled (dig "networkPolicy" "enabled" false $v.flask) -}}
{{- include "webstack.allowedApp" (dict "app" (include "webstack.subchartName" (dict "values" $v.nginx "chart" "nginx")) "who" "nginx" "list" $v.flask.networkPolicy.allowedApps "where" "flask.networkPolicy.allowedApps") -}}
{{- end -}}
{{- end -}}

{{- define "webstack.sameName" -}}
{{- if ne .want .got -}}
{{- fail (printf "webstack: %s is %q (%s.fullnameOverride or %s.nameOverride) but %s defaults to %q: set %s: %s" .what .want .renamed .renamed .set .got .set .want) -}}
{{- end -}}
{{- end -}}

{{- define "webstack.allowedApp" -}}
{{- if not (has .app .list) -}}
{{- fail (printf "webstack: %s's pods are app.kubernetes.io/name=%s (%s.nameOverride) but %s does not list it: add %q, or the NetworkPolicy shuts them out" .who .app .who .where .app) -}}
{{- end -}}
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
