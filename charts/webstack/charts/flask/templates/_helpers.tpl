{{/* Names and labels for the flask chart: every template takes them from here. */}}

{{- define "flask.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name: <release>-<chart>, never shortened by a "contains" shortcut, so the umbrella's sibling
charts can predict it (nginx points at "<release>-flask" by default).
*/}}
{{- define "flask.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "flask.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flask.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Immutable subset: the only labels selectors may use. */}}
{{- define "flask.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flask.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The web pods' selector: name + instance + component, because the migration Job's pods share name and
instance (so the NetworkPolicy in mysql admits them) and must not join the Service or the PDB.
*/}}
{{- define "flask.webSelectorLabels" -}}
{{ include "flask.selectorLabels" . }}
app.kubernetes.io/component: web
{{- end -}}

{{- define "flask.labels" -}}
helm.sh/chart: {{ include "flask.chart" . }}
{{ include "flask.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webstack
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "flask.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flask.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The one image reference shape of this chart: registry/repository@digest, else registry/repository:tag;
global.imageRegistry wins over the block's registry, the tag defaults to `appVersion` when given.
Every container of the chart takes its image from here: (dict "image" <block> "global" .Values.global
"appVersion" .Chart.AppVersion).
*/}}
{{- define "flask.imageRef" -}}
{{- $img := .image -}}
{{- $registry := .global.imageRegistry | default $img.registry -}}
{{- $ref := ternary (printf "@%s" ($img.digest | default "")) (printf ":%s" ($img.tag | default .appVersion)) (ne ($img.digest | default "") "") -}}
{{- if $registry -}}{{ printf "%s/%s%s" $registry $img.repository $ref }}{{- else -}}{{ printf "%s%s" $img.repository $ref }}{{- end -}}
{{- end -}}

{{- define "flask.image" -}}
{{- include "flask.imageRef" (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "flask.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.image.pullSecrets | default list) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Database connection: external when externalDatabase.host is set, else the in-chart MySQL. */}}
{{- define "flask.db.external" -}}
{{- if .Values.externalDatabase.host }}true{{ end -}}
{{- end -}}

{{- define "flask.db.host" -}}
{{- if include "flask.db.external" . -}}
{{- .Values.externalDatabase.host -}}
{{- else -}}
{{- .Values.database.host | default (printf "%s-mysql" .Release.Name) -}}
{{- end -}}
{{- end -}}

{{- define "flask.db.port" -}}
{{- ternary .Values.externalDatabase.port .Values.database.port (ne (include "flask.db.external" .) "") -}}
{{- end -}}

{{- define "flask.db.name" -}}
{{- ternary .Values.externalDatabase.database .Values.database.name (ne (include "flask.db.external" .) "") -}}
{{- end -}}

{{- define "flask.db.user" -}}
{{- ternary .Values.externalDatabase.user .Values.database.user (ne (include "flask.db.external" .) "") -}}
{{- end -}}

{{/* Whether this chart creates the password Secret itself (external database given a literal password). */}}
{{- define "flask.db.createSecret" -}}
{{- if and (include "flask.db.external" .) (not .Values.externalDatabase.existingSecret) }}true{{ end -}}
{{- end -}}

{{/*
The Secret holding the DB password, in every mode:
- external database: externalDatabase.existingSecret, else the Secret this chart creates;
- in-chart MySQL: database.existingSecret (set it to mysql.auth.existingSecret), else the mysql
  chart's generated Secret "<release>-mysql".
*/}}
{{- define "flask.db.secretName" -}}
{{- if include "flask.db.external" . -}}
{{- .Values.externalDatabase.existingSecret | default (printf "%s-db" (include "flask.fullname" .)) -}}
{{- else -}}
{{- .Values.database.existingSecret | default (printf "%s-mysql" .Release.Name) -}}
{{- end -}}
{{- end -}}

{{- define "flask.db.secretKey" -}}
{{- if include "flask.db.external" . -}}
{{- ternary .Values.externalDatabase.existingSecretPasswordKey "password" (ne .Values.externalDatabase.existingSecret "") -}}
{{- else -}}
{{- .Values.database.existingSecretPasswordKey -}}
{{- end -}}
{{- end -}}

{{- define "flask.db.passwordFile" -}}/etc/webstack/db/password{{- end -}}

{{/*
Non-secret settings as a flat map. The ConfigMap renders it for the Deployment; the pre-upgrade
migration Job inlines it, because at pre-upgrade time the ConfigMap still holds the old revision.
*/}}
{{- define "flask.env" -}}
APP_VERSION: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
LOG_LEVEL: {{ .Values.config.logLevel | quote }}
DB_HOST: {{ include "flask.db.host" . | quote }}
DB_PORT: {{ include "flask.db.port" . | quote }}
DB_NAME: {{ include "flask.db.name" . | quote }}
DB_USER: {{ include "flask.db.user" . | quote }}
DB_PASSWORD_FILE: {{ include "flask.db.passwordFile" . | quote }}
DB_POOL_SIZE: {{ .Values.config.dbPoolSize | int64 | quote }}
DB_CONNECT_TIMEOUT: {{ .Values.config.dbConnectTimeout | int64 | quote }}
MAX_CONTENT_LENGTH: {{ .Values.config.maxContentLength | int64 | quote }}
GUNICORN_BIND: {{ printf "0.0.0.0:%d" (int .Values.containerPort) | quote }}
GUNICORN_WORKERS: {{ .Values.gunicorn.workers | int64 | quote }}
GUNICORN_THREADS: {{ .Values.gunicorn.threads | int64 | quote }}
GUNICORN_TIMEOUT: {{ .Values.gunicorn.timeout | int64 | quote }}
GUNICORN_GRACEFUL_TIMEOUT: {{ .Values.gunicorn.gracefulTimeout | int64 | quote }}
GUNICORN_WORKER_TMP_DIR: {{ .Values.gunicorn.workerTmpDir | quote }}
{{- end -}}

{{- define "flask.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end -}}

{{/* The DB password Secret as a file volume: only the one key, mode 0400. */}}
{{- define "flask.db.passwordVolume" -}}
- name: db-password
  secret:
    secretName: {{ include "flask.db.secretName" . }}
    defaultMode: 0400
    items:
      - key: {{ include "flask.db.secretKey" . }}
        path: password
{{- end -}}

{{/*
Render-time guards for what values.schema.json cannot compare (one value against another): the grace
period must cover the preStop sleep plus gunicorn's graceful drain, or Kubernetes kills workers
mid-request; the autoscaler's bounds must be ordered. Pairs of values are rules of the schema.
*/}}
{{- define "flask.validate" -}}
{{- $need := add .Values.lifecycle.preStopSleepSeconds .Values.gunicorn.gracefulTimeout -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $need) -}}
{{- fail (printf "flask: terminationGracePeriodSeconds (%d) must be greater than lifecycle.preStopSleepSeconds + gunicorn.gracefulTimeout (%d)" (int .Values.terminationGracePeriodSeconds) (int $need)) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail (printf "%s: autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" .Chart.Name (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}

{{/*
NetworkPolicy ingress rules admitting .peers on .ports: the pod and namespace selectors in one rule,
the ipBlocks in another. Rules are OR'ed, so this admits exactly what one rule listing every peer
would; split, an enforcer that keeps one address set per rule and named port (kube-router, k3s's
built-in one) never gives a selector list and an ipBlock list the same set name. Mixed, that set is
made hash:ip when the selected pods exist and hash:net when none do, and after the enforcer
restarts it cannot re-create it ("set with the same name already exists"): no policy then syncs.
No peers: no rule (the caller says what that means).
*/}}
{{- define "flask.ingressRules" -}}
{{- $selectors := list -}}
{{- $blocks := list -}}
{{- range .peers -}}
{{- if hasKey . "ipBlock" -}}
{{- $blocks = append $blocks . -}}
{{- else -}}
{{- $selectors = append $selectors . -}}
{{- end -}}
{{- end -}}
{{- range list $selectors $blocks }}
{{- if . }}
- ports:
    {{- toYaml $.ports | nindent 4 }}
  from:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end }}
{{- end -}}
