#!/bin/bash
# Dump one database with a consistent InnoDB snapshot (--single-transaction, no table locks) into
# $BACKUP_DIR, then keep only the newest $BACKUP_RETENTION dumps. The same script runs in the
# CronJob and locally (stack tier): everything comes from the environment. Waits up to
# $WAIT_SECONDS for the server: where a CNI enforces NetworkPolicy, a new pod's first connections
# are refused until the enforcer admits its address (about a second with kube-router).
#   MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_DATABASE BACKUP_DIR BACKUP_RETENTION
#   MYSQL_PASSWORD_FILE (optional: empty = no password)  MYSQLDUMP (default: mysqldump)
#   MYSQLADMIN (default: mysqladmin)
set -euo pipefail
: "${MYSQL_HOST:?}" "${MYSQL_PORT:=3306}" "${MYSQL_USER:?}" "${MYSQL_DATABASE:?}" "${BACKUP_DIR:?}"
: "${BACKUP_RETENTION:=7}" "${MYSQLDUMP:=mysqldump}" "${MYSQLADMIN:=mysqladmin}" "${WAIT_SECONDS:=60}"
if [[ -n "${MYSQL_PASSWORD_FILE:-}" ]]; then
  MYSQL_PWD="$(cat "$MYSQL_PASSWORD_FILE")"
  export MYSQL_PWD
fi

for (( waited = 0; ; waited += 2 )); do
  if "$MYSQLADMIN" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" status >/dev/null 2>&1; then
    break
  fi
  if (( waited >= WAIT_SECONDS )); then
    echo "backup: $MYSQL_HOST:$MYSQL_PORT not reachable after ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 2
done

stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$BACKUP_DIR/$MYSQL_DATABASE-$stamp.sql"
# Written under a temporary name: a failed or partial dump never counts as a backup.
"$MYSQLDUMP" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" \
  --single-transaction --routines --triggers --events --no-tablespaces \
  "$MYSQL_DATABASE" > "$out.partial"
if [[ "$(tail -n 1 "$out.partial")" != "-- Dump completed"* ]]; then
  echo "backup: $out.partial is incomplete (no 'Dump completed' trailer)" >&2
  exit 1
fi
mv "$out.partial" "$out"
echo "backup: wrote $out ($(wc -c < "$out") bytes)"

# Retention: names sort by time (UTC stamp), so the oldest come first.
mapfile -t dumps < <(ls -1 "$BACKUP_DIR/$MYSQL_DATABASE"-*.sql | sort)
excess=$(( ${#dumps[@]} - BACKUP_RETENTION ))
for (( i = 0; i < excess; i++ )); do
  rm -f -- "${dumps[$i]}"
  echo "backup: removed ${dumps[$i]} (retention $BACKUP_RETENTION)"
done
