{{/* Names and labels for the nginx chart: every template takes them from here. */}}

{{- define "nginx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nginx.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "nginx.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "nginx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Immutable subset: the only labels selectors may use. */}}
{{- define "nginx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nginx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nginx.labels" -}}
helm.sh/chart: {{ include "nginx.chart" . }}
{{ include "nginx.selectorLabels" . }}
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
{{- define "nginx.imageRef" -}}
{{- $img := .image -}}
{{- $registry := .global.imageRegistry | default $img.registry -}}
{{- $ref := ternary (printf "@%s" ($img.digest | default "")) (printf ":%s" ($img.tag | default .appVersion)) (ne ($img.digest | default "") "") -}}
{{- if $registry -}}{{ printf "%s/%s%s" $registry $img.repository $ref }}{{- else -}}{{ printf "%s%s" $img.repository $ref }}{{- end -}}
{{- end -}}

{{- define "nginx.image" -}}
{{- include "nginx.imageRef" (dict "image" .Values.image "global" .Values.global "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "nginx.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.image.pullSecrets | default list) | uniq -}}
{{- if $secrets }}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "nginx.upstreamHost" -}}
{{- .Values.upstream.host | default (printf "%s-flask" .Release.Name) -}}
{{- end -}}

{{/*
nginx.conf. Every file path is absolute and simple (/tmp/..., /dev/std*, /etc/nginx/mime.types)
so the stack tier can run the same file outside Kubernetes by rewriting only those paths.
*/}}
{{- define "nginx.conf" -}}
worker_processes {{ .Values.config.workerProcesses }};
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {
    worker_connections {{ .Values.config.workerConnections }};
}

http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    client_body_temp_path /tmp/client_temp;
    proxy_temp_path /tmp/proxy_temp;
    fastcgi_temp_path /tmp/fastcgi_temp;
    uwsgi_temp_path /tmp/uwsgi_temp;
    scgi_temp_path /tmp/scgi_temp;

    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout {{ .Values.config.keepaliveTimeout }};
    client_max_body_size {{ .Values.config.clientMaxBodySize }};
    client_body_timeout {{ .Values.config.clientBodyTimeout }};
    client_header_timeout {{ .Values.config.clientHeaderTimeout }};
    {{- with .Values.config.realIp }}
    {{- if .enabled }}

    # The client address from {{ .header }}, believed only from these proxies.
    {{- range .trustedProxies }}
    set_real_ip_from {{ . }};
    {{- end }}
    real_ip_header {{ .header }};
    real_ip_recursive {{ ternary "on" "off" .recursive }};
    {{- end }}
    {{- end }}
    {{- with .Values.config.rateLimit }}
    {{- if .enabled }}

    limit_req_zone $binary_remote_addr zone=webstack_req:{{ .zoneSize }} rate={{ .rate }};
    limit_req_status {{ .status }};
    {{- end }}
    {{- end }}

    # Keep the caller's X-Request-ID when it is well-formed (the app's own rule), else mint one; it goes
    # upstream, back to the client (once: the upstream's copy is hidden) and into the access log.
    map $http_x_request_id $webstack_request_id {
        "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;
        default                     $request_id;
    }
    map $http_x_forwarded_proto $webstack_forwarded_proto {
        default $http_x_forwarded_proto;
        ""      $scheme;
    }

    log_format json escape=json '{"time":"$time_iso8601","remote_addr":"$remote_addr",'
        '"request_id":"$webstack_request_id","method":"$request_method","uri":"$request_uri",'
        '"status":$status,"bytes_sent":$body_bytes_sent,"request_time":$request_time,'
        '"upstream_response_time":"$upstream_response_time","user_agent":"$http_user_agent",'
        '"referer":"$http_referer","forwarded_for":"$http_x_forwarded_for"}';
    access_log /dev/stdout json;

    {{- if .Values.config.gzip }}

    gzip on;
    gzip_vary on;
    gzip_proxied any;
    gzip_comp_level 5;
    gzip_min_length 256;
    gzip_types text/plain text/css application/json application/javascript text/javascript image/svg+xml;
    {{- end }}

    upstream webstack_app {
        server {{ include "nginx.upstreamHost" . }}:{{ .Values.upstream.port }};
        keepalive {{ .Values.upstream.keepalive }};
    }

    server {
        listen {{ .Values.containerPort }};
        server_name _;

        add_header X-Request-ID $webstack_request_id always;
        add_header X-Content-Type-Options "nosniff" always;
        add_header X-Frame-Options "DENY" always;
        add_header Referrer-Policy "strict-origin-when-cross-origin" always;
        {{- with .Values.config.contentSecurityPolicy }}
        add_header Content-Security-Policy "{{ . }}" always;
        {{- end }}
        {{- with .Values.config.hsts }}
        add_header Strict-Transport-Security "{{ . }}" always;
        {{- end }}

        location = /nginx-health {
            access_log off;
            default_type text/plain;
            return 200 "ok\n";
        }
        {{- range .Values.config.extraLocations }}

        location {{ .match }} {
            {{- .config | trim | nindent 12 }}
        }
        {{- end }}

        location / {
            proxy_pass http://webstack_app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-ID $webstack_request_id;
            proxy_hide_header X-Request-ID;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $webstack_forwarded_proto;
            proxy_set_header X-Forwarded-Host $host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_connect_timeout {{ .Values.upstream.connectTimeout }};
            proxy_read_timeout {{ .Values.upstream.readTimeout }};
            proxy_send_timeout {{ .Values.upstream.sendTimeout }};
            {{- with .Values.config.rateLimit }}
            {{- if .enabled }}
            limit_req zone=webstack_req burst={{ .burst }}{{ if .nodelay }} nodelay{{ end }};
            {{- end }}
            {{- end }}
        }
        {{- with .Values.config.serverSnippet | trim }}

        # config.serverSnippet
        {{- . | nindent 8 }}
        {{- end }}
    }

    # Internal: stub_status for an exporter; not exposed by the Service.
    server {
        listen {{ .Values.statusPort }};
        server_name _;
        access_log off;

        location = /stub_status {
            stub_status;
            {{- range .Values.config.statusAllow }}
            allow {{ . }};
            {{- end }}
            deny all;
        }
    }
    {{- with .Values.config.httpSnippet | trim }}

    # config.httpSnippet
    {{- . | nindent 4 }}
    {{- end }}
}
{{- end -}}

{{- define "nginx.validate" -}}
{{- range $name, $text := dict "httpSnippet" .Values.config.httpSnippet "serverSnippet" .Values.config.serverSnippet -}}
{{- include "nginx.balancedBraces" (dict "where" (printf "config.%s" $name) "text" $text) -}}
{{- end -}}
{{- range $i, $loc := .Values.config.extraLocations -}}
{{- include "nginx.balancedBraces" (dict "where" (printf "config.extraLocations[%d].config" $i) "text" $loc.config) -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds) -}}
{{- fail (printf "nginx: terminationGracePeriodSeconds (%d) must be greater than preStopSleepSeconds (%d)" (int .Values.terminationGracePeriodSeconds) (int .Values.preStopSleepSeconds)) -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail (printf "%s: autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" .Chart.Name (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- end -}}


{{/* A snippet must not close the block it is put in: its braces balance (nginx -t checks the rest). */}}
{{- define "nginx.balancedBraces" -}}
{{- $open := len (regexFindAll "[{]" .text -1) -}}
{{- $close := len (regexFindAll "[}]" .text -1) -}}
{{- if ne $open $close -}}
{{- fail (printf "nginx: %s has %d '{' and %d '}': a snippet's braces must balance, or it would close the block it is put in" .where $open $close) -}}
{{- end -}}
{{- end -}}

{{/* One Gateway API parentRef from a values entry {name, namespace, sectionName, port}. */}}
{{- define "nginx.parentRef" -}}
name: {{ .name }}
{{- with .namespace }}
namespace: {{ . }}
{{- end }}
{{- with .sectionName }}
sectionName: {{ . }}
{{- end }}
{{- with .port }}
port: {{ . }}
{{- end }}
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
{{- define "nginx.ingressRules" -}}
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
