#!/bin/bash
# The stand-in's entrypoint: the part of the official mysql image's contract the webstack chart uses.
#   MYSQL_ROOT_PASSWORD[_FILE] (or MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD),
#   MYSQL_ROOT_HOST (default %), MYSQL_DATABASE[_FILE], MYSQL_USER[_FILE], MYSQL_PASSWORD[_FILE].
# On an empty data directory: initialise it, start a temporary server on the socket only (so probes
# over TCP fail until the real server is up), create the database and users, run
# /docker-entrypoint-initdb.d/*.sql, *.sql.gz and *.sh in name order, stop it. Then exec the server
# in the foreground. Works as uid 999 on a read-only root filesystem.
set -euo pipefail
shopt -s nullglob

log() { echo "$(date -u +%FT%TZ) [Entrypoint]: $*" >&2; }
die() { log "error: $*"; exit 1; }

# VAR or VAR_FILE (never both), as the official image reads them.
file_env() {
  local var=$1 file_var="${1}_FILE"
  if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
    die "both $var and $file_var are set (but are exclusive)"
  fi
  local value="${!var:-}"
  if [[ -n "${!file_var:-}" ]]; then
    value="$(< "${!file_var}")"
  fi
  export "$var=$value"
  unset "$file_var"
}

# An option's effective value from the server's own view of its configuration files ($SERVER_HELP:
# `mariadbd --verbose --help`, read whole, so no pipe closes early on the server).
server_option() {
  # Only unindented lines: the variables table (wrapped option descriptions are indented).
  awk -v opt="$1" '/^[^ \t]/ && $1 == opt && !found { print $2; found = 1 }' <<< "$SERVER_HELP"
}

sql_string() {  # a single-quoted SQL literal
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\\\'}"
}

sql_ident() {
  printf '`%s`' "${1//\`/\`\`}"
}

# Client against the temporary server: root over the socket (the password, once set, via MYSQL_PWD).
run_sql() {
  local args=(--protocol=socket --socket="$SOCKET" --user=root --batch --skip-column-names)
  if [[ -n "${1:-}" ]]; then args+=(--database="$1"); fi
  MYSQL_PWD="${ROOT_PASSWORD_SET:+$MYSQL_ROOT_PASSWORD}" mariadb "${args[@]}"
}

start_temp_server() {
  "$@" --skip-networking --socket="$SOCKET" &
  TEMP_PID=$!
  for _ in $(seq 120); do
    if mariadb-admin --protocol=socket --socket="$SOCKET" --user=root ping >/dev/null 2>&1; then
      return 0
    fi
    kill -0 "$TEMP_PID" 2>/dev/null || die "the temporary server exited during initialisation"
    sleep 0.5
  done
  die "the temporary server did not answer on $SOCKET within 60s"
}

stop_temp_server() {
  kill -TERM "$TEMP_PID"
  wait "$TEMP_PID" || die "the temporary server did not shut down cleanly"
}

create_accounts() {
  local root_host="${MYSQL_ROOT_HOST:-%}" pw sql=""
  pw="$(sql_string "$MYSQL_ROOT_PASSWORD")"
  # Only root@localhost (socket) and root@MYSQL_ROOT_HOST, as in the official image: other root rows
  # (127.0.0.1, ::1) would shadow root@% for TCP clients with a different password.
  sql+="DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';"
  sql+="CREATE USER IF NOT EXISTS 'root'@'localhost' IDENTIFIED BY $pw;"
  sql+="ALTER USER 'root'@'localhost' IDENTIFIED BY $pw;"
  sql+="GRANT ALL ON *.* TO 'root'@'localhost' WITH GRANT OPTION;"
  if [[ "$root_host" != localhost ]]; then
    sql+="CREATE USER IF NOT EXISTS 'root'@$(sql_string "$root_host") IDENTIFIED BY $pw;"
    sql+="GRANT ALL ON *.* TO 'root'@$(sql_string "$root_host") WITH GRANT OPTION;"
  fi
  if [[ -n "$MYSQL_DATABASE" ]]; then
    sql+="CREATE DATABASE IF NOT EXISTS $(sql_ident "$MYSQL_DATABASE");"
  fi
  if [[ -n "$MYSQL_USER" && -n "$MYSQL_PASSWORD" ]]; then
    [[ "$MYSQL_USER" != root ]] || die "MYSQL_USER=root: use MYSQL_ROOT_PASSWORD for root"
    sql+="CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
    if [[ -n "$MYSQL_DATABASE" ]]; then
      sql+="GRANT ALL ON $(sql_ident "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
    fi
  fi
  sql+="FLUSH PRIVILEGES;"
  run_sql <<< "$sql"
  ROOT_PASSWORD_SET=1
}

run_init_scripts() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        log "running $f"
        # As the official image: executable scripts run, others are sourced (with MYSQL_PWD set).
        if [[ -x "$f" ]]; then MYSQL_PWD="$MYSQL_ROOT_PASSWORD" "$f"; else MYSQL_PWD="$MYSQL_ROOT_PASSWORD" . "$f"; fi
        ;;
      *.sql) log "running $f"; run_sql "$MYSQL_DATABASE" < "$f" ;;
      *.sql.gz) log "running $f"; gzip -dc "$f" | run_sql "$MYSQL_DATABASE" ;;
      *) log "ignoring $f" ;;
    esac
  done
}

initialise() {
  file_env MYSQL_ROOT_PASSWORD
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD
  if [[ -z "$MYSQL_ROOT_PASSWORD" ]]; then
    if [[ -n "${MYSQL_RANDOM_ROOT_PASSWORD:-}" ]]; then
      MYSQL_ROOT_PASSWORD="$(head -c 18 /dev/urandom | base64)"
      log "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
    elif [[ -z "${MYSQL_ALLOW_EMPTY_PASSWORD:-}" ]]; then
      die "the database is uninitialised and no root password is given: set MYSQL_ROOT_PASSWORD(_FILE), MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD"
    fi
  fi
  log "initialising $DATADIR"
  local out  # --cross-bootstrap: no host-name rows, and the pod's hostname need not resolve
  if ! out="$(mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=normal \
                --skip-test-db --cross-bootstrap ${RUN_AS_ROOT:+--user=mysql} 2>&1)"; then
    die "mariadb-install-db failed: $out"
  fi
  start_temp_server "$@"
  create_accounts
  run_init_scripts
  stop_temp_server
  log "initialisation done"
}

main() {
  if [[ "${1:-}" == -* ]]; then set -- mariadbd "$@"; fi
  if [[ "${1:-}" == mysqld ]]; then shift; set -- mariadbd "$@"; fi
  if [[ "${1:-}" != mariadbd ]]; then exec "$@"; fi
  if [[ "$(id -u)" == 0 ]]; then RUN_AS_ROOT=1; set -- "$@" --user=mysql; fi
  SERVER_HELP="$("$1" --verbose --help 2>&1)" || die "\`$1 --verbose --help\` failed: $SERVER_HELP"
  DATADIR="$(server_option datadir)"; DATADIR="${DATADIR%/}"
  SOCKET="$(server_option socket)"
  [[ -n "$DATADIR" && -n "$SOCKET" ]] || die "cannot read datadir and socket from \`$1 --verbose --help\`"
  if [[ ! -d "$DATADIR/mysql" ]]; then
    initialise "$@"
  fi
  unset MYSQL_ROOT_PASSWORD MYSQL_PASSWORD MYSQL_PWD
  log "starting $*"
  exec "$@"
}

main "$@"
