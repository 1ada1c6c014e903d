{{/*
Monitoring: the alert rules, written once. The PrometheusRule (monitoring.prometheusRule) and the
plain rules file in a ConfigMap (monitoring.rulesConfigMap) both render "webstack.alertGroups", so an
operator-less Prometheus loads exactly what the operator would. Label conventions are the
Prometheus Operator's for a ServiceMonitor (job = the Service name, namespace = the release's);
kube-state-metrics and kubelet series keep their own names. MySQL here is one server: there is no
replication, so there is no replication alert.
*/}}

{{- define "webstack.alertLabels" -}}
severity: {{ .severity }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "webstack.alertGroups" -}}
{{- $a := .Values.monitoring.alerts -}}
{{- $ns := .Release.Namespace -}}
{{- $app := include "webstack.flaskService" . -}}
{{- $mysql := include "webstack.mysqlFullname" . -}}
{{- $sel := printf "namespace=%q, job=%q" $ns $app -}}
{{- $win := $a.rateWindow -}}
- name: {{ printf "webstack.%s" .Release.Name }}
  rules:
    {{- if .Values.flask.enabled }}
    - alert: WebstackAppErrorRatioHigh
      expr: |-
        sum by (namespace, job) (rate(webstack_http_requests_total{ {{- $sel }}, status=~"5.."}[{{ $win }}]))
          / sum by (namespace, job) (rate(webstack_http_requests_total{ {{- $sel -}} }[{{ $win }}]))
          > {{ $a.errorRatio.threshold }}
      for: {{ $a.errorRatio.for }}
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: {{ printf "%s's 5xx ratio is above %v" $app $a.errorRatio.threshold | quote }}
        description: {{ printf "%s of the app's requests in namespace %s answered 5xx over %s." "{{ $value | humanizePercentage }}" $ns $win | quote }}
    - alert: WebstackAppLatencyP99High
      expr: |-
        histogram_quantile(0.99, sum by (namespace, job, le) (rate(webstack_http_request_duration_seconds_bucket{ {{- $sel -}} }[{{ $win }}])))
          > {{ $a.latencyP99.thresholdSeconds }}
      for: {{ $a.latencyP99.for }}
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: {{ printf "%s's p99 latency is above %vs" $app $a.latencyP99.thresholdSeconds | quote }}
        description: {{ printf "The app's 99th percentile latency in namespace %s is %s." $ns "{{ $value | humanizeDuration }}" | quote }}
    {{- end }}
    {{- $deployments := list -}}
    {{- if .Values.flask.enabled }}{{ $deployments = append $deployments $app }}{{ end -}}
    {{- if .Values.nginx.enabled }}{{ $deployments = append $deployments (include "webstack.nginxService" .) }}{{ end -}}
    {{- if $deployments }}
    {{- $dsel := printf "namespace=%q, deployment=~%q" $ns (join "|" $deployments) }}
    - alert: WebstackPodsNotReady
      expr: |-
        kube_deployment_spec_replicas{ {{- $dsel -}} }
          > kube_deployment_status_replicas_available{ {{- $dsel -}} }
      for: {{ $a.podsNotReady.for }}
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: {{ "Deployment {{ $labels.deployment }} has pods that are not ready" | quote }}
        description: {{ printf "%s has had fewer available replicas than desired for %s." "{{ $labels.namespace }}/{{ $labels.deployment }}" $a.podsNotReady.for | quote }}
    {{- end }}
    {{- if or .Values.flask.enabled .Values.mysql.enabled }}
    - alert: WebstackMySQLDown
      # The app's own view (webstack_db_up: every readiness check sets it; min: any app pod that
      # cannot reach the one MySQL server) or, with mysql.metrics.enabled, mysqld-exporter's mysql_up.
      expr: |-
        min by (namespace) (webstack_db_up{ {{- $sel -}} }) == 0
          or max by (namespace) (mysql_up{namespace={{ $ns | quote }}, job={{ printf "%s-metrics" $mysql | quote }}}) == 0
      for: {{ $a.mysqlDown.for }}
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "critical" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: MySQL of release {{ .Release.Name }} is down
        description: The app (or the exporter) has not reached MySQL in namespace {{ $ns }} for {{ $a.mysqlDown.for }}.
    {{- end }}
    {{- if and .Values.mysql.enabled .Values.mysql.backup.enabled }}
    {{- $cron := printf "%s-backup" $mysql | trunc 52 | trimSuffix "-" }}
    {{- $csel := printf "namespace=%q, cronjob=%q" $ns $cron }}
    - alert: WebstackBackupFailed
      expr: |-
        kube_job_failed{namespace={{ $ns | quote }}, job_name=~{{ printf "%s-.+" $cron | quote }}, condition="true"} > 0
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: {{ "Backup Job {{ $labels.job_name }} failed" | quote }}
        description: {{ printf "%s of CronJob %s failed; see its pod's log." "{{ $labels.namespace }}/{{ $labels.job_name }}" $cron | quote }}
    - alert: WebstackBackupTooOld
      expr: |-
        time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time{ {{- $csel -}} }) > {{ mul (int $a.backup.windowHours) 3600 }}
          or (time() - max by (namespace, cronjob) (kube_cronjob_created{ {{- $csel -}} }) > {{ mul (int $a.backup.windowHours) 3600 }}
            unless on (namespace, cronjob) kube_cronjob_status_last_successful_time{ {{- $csel -}} })
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: No backup succeeded in {{ $a.backup.windowHours }} hours
        description: CronJob {{ $ns }}/{{ $cron }} has no successful run in the last {{ $a.backup.windowHours }} hours.
    {{- end }}
    {{- if .Values.mysql.enabled }}
    {{- $claims := list (printf "data-%s-[0-9]+" $mysql) -}}
    {{- with .Values.mysql.persistence.existingClaim }}{{ $claims = append $claims . }}{{ end -}}
    {{- if .Values.mysql.backup.enabled }}{{ $claims = append $claims (.Values.mysql.backup.persistence.existingClaim | default (printf "%s-backup" $mysql)) }}{{ end }}
    {{- $psel := printf "namespace=%q, persistentvolumeclaim=~%q" $ns (join "|" $claims) }}
    - alert: WebstackVolumeAlmostFull
      expr: |-
        kubelet_volume_stats_used_bytes{ {{- $psel -}} }
          / kubelet_volume_stats_capacity_bytes{ {{- $psel -}} }
          > {{ $a.pvcUsage.threshold }}
      for: {{ $a.pvcUsage.for }}
      labels:
        {{- include "webstack.alertLabels" (dict "severity" "warning" "extra" $a.labels) | nindent 8 }}
      annotations:
        summary: {{ "PVC {{ $labels.persistentvolumeclaim }} is almost full" | quote }}
        description: {{ printf "%s is %s full (threshold %v)." "{{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }}" "{{ $value | humanizePercentage }}" $a.pvcUsage.threshold | quote }}
    {{- end }}
{{- end -}}
