{{/* Names and labels for the mysql chart: every template takes them from here. */}}

{{- define "mysql.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-<chart> without a "contains" shortcut, so flask can predict the host and Secret name. */}}
{{- define "mysql.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mysql.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mysql.headlessName" -}}
{{- printf "%s-headless" (include "mysql.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mysql.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Immutable subset: the only labels selectors may use. */}}
{{- define "mysql.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mysql.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The database pod's selector: name + instance + component, because the backup and restore Jobs' pods
share name and instance and must never receive client connections or count as the server.
*/}}
{{- define "mysql.databaseSelectorLabels" -}}
{{ include "mysql.selectorLabels" . }}
app.kubernetes.io/component: database
{{- end -}}

{{- define "mysql.labels" -}}
helm.sh/chart: {{ include "mysql.chart" . }}
{{ include "mysql.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: webstack
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The one image reference shape of this chart: registry/repository@digest, else registry/repository:tag;
global.imageRegistry wins over the block's registry, the tag defaults to `appVersion` when given.
Every container of the chart takes its image from here: (dict "image" <block> "global" .Values.global
"appVersion" .Chart.AppVersion).
*/}}
{{- define "mysql.imageRef" -}}
{{- $img := .image -}}
{{- $registry := .global.imageRegistry | default $img.registry -}}
{{- $ref := ternary (printf "@%s" ($img.digest | default "")) (printf ":%s" ($img.tag | default .appVersion)) (ne ($img.digest | default "") "") -}}
{{- if $registry -}}{{ printf "%s/%s%s" $registry $img.repository $ref }}{{- else -}}{{ printf "%s%s" $img.repository $ref }}{{- end -}}
{{- end -}}

{{- define "mysql.image" -}}
{{- include "mysql.imageRef" (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "mysql.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.image.pullSecrets | default list) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "mysql.secretName" -}}
{{- .Values.auth.existingSecret | default (include "mysql.fullname" .) -}}
{{- end -}}

{{- define "mysql.secretsDir" -}}/etc/mysql-secrets{{- end -}}

{{- define "mysql.storageClass" -}}
{{- .storageClass | default .global.storageClass -}}
{{- end -}}

{{/* The Secret as files (*_FILE): the passwords never appear in env or args. */}}
{{- define "mysql.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "mysql.secretName" . }}
    defaultMode: 0400
    items:
      - key: mysql-root-password
        path: mysql-root-password
      - key: mysql-password
        path: mysql-password
{{- end -}}

{{/* my.cnf: every option valid on MySQL 8.4 and MariaDB 10.11 (the stack tier runs it on MariaDB). */}}
{{- define "mysql.mycnf" -}}
[mysqld]
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
skip-name-resolve
default-time-zone = '+00:00'
max_connections = {{ .Values.config.maxConnections }}
innodb_buffer_pool_size = {{ .Values.config.innodbBufferPoolSize }}
max_allowed_packet = {{ .Values.config.maxAllowedPacket }}
{{- with .Values.config.extra }}
{{ . }}
{{- end }}

[client]
default-character-set = utf8mb4
{{- end -}}

{{/* Init scripts, run once by the image's entrypoint on an empty data directory. */}}
{{- define "mysql.initdb" -}}
01-webstack.sql: |
  -- The image created the database and user from MYSQL_DATABASE/MYSQL_USER; fix the character set.
  ALTER DATABASE `{{ .Values.auth.database }}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
{{- range $name, $body := .Values.initdbScripts }}
{{ $name }}: |
  {{- $body | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Environment shared by the backup CronJob and the restore Job (the scripts' interface). */}}
{{- define "mysql.scriptEnv" -}}
- name: MYSQL_HOST
  value: {{ include "mysql.fullname" . | quote }}
- name: MYSQL_PORT
  value: {{ .Values.service.port | quote }}
- name: MYSQL_USER
  value: root
- name: MYSQL_PASSWORD_FILE
  value: {{ printf "%s/mysql-root-password" (include "mysql.secretsDir" .) | quote }}
- name: MYSQL_DATABASE
  value: {{ .Values.auth.database | quote }}
- name: BACKUP_DIR
  value: /backup
- name: BACKUP_RETENTION
  value: {{ .Values.backup.retention | quote }}
{{- end -}}

{{- define "mysql.backupClaimName" -}}
{{- .Values.backup.persistence.existingClaim | default (printf "%s-backup" (include "mysql.fullname" .)) -}}
{{- end -}}

{{/* Volumes of the backup and restore pods. */}}
{{- define "mysql.scriptVolumes" -}}
- name: backup
  persistentVolumeClaim:
    claimName: {{ include "mysql.backupClaimName" . }}
- name: scripts
  configMap:
    name: {{ printf "%s-scripts" (include "mysql.fullname" .) }}
    defaultMode: 0555
{{ include "mysql.secretVolume" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "mysql.scriptVolumeMounts" -}}
- name: backup
  mountPath: /backup
- name: scripts
  mountPath: /scripts
  readOnly: true
- name: secrets
  mountPath: {{ include "mysql.secretsDir" . }}
  readOnly: true
- name: tmp
  mountPath: /tmp
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
{{- define "mysql.ingressRules" -}}
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
