#!/bin/bash
# Restore a dump written by backup.sh into $MYSQL_DATABASE. The file is $1, else $RESTORE_FILE
# (a name inside $BACKUP_DIR or a path), else the newest dump in $BACKUP_DIR. Waits up to
# $WAIT_SECONDS for the server, because the restore hook can run while MySQL is still starting.
#   MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_DATABASE BACKUP_DIR
#   MYSQL_PASSWORD_FILE (optional)  MYSQL (default: mysql)  MYSQLADMIN (default: mysqladmin)
set -euo pipefail
: "${MYSQL_HOST:?}" "${MYSQL_PORT:=3306}" "${MYSQL_USER:?}" "${MYSQL_DATABASE:?}" "${BACKUP_DIR:?}"
: "${MYSQL:=mysql}" "${MYSQLADMIN:=mysqladmin}" "${WAIT_SECONDS:=300}"
if [[ -n "${MYSQL_PASSWORD_FILE:-}" ]]; then
  MYSQL_PWD="$(cat "$MYSQL_PASSWORD_FILE")"
  export MYSQL_PWD
fi

file="${1:-${RESTORE_FILE:-}}"
if [[ -z "$file" ]]; then
  file="$(ls -1 "$BACKUP_DIR/$MYSQL_DATABASE"-*.sql 2>/dev/null | sort | tail -n 1 || true)"
  [[ -n "$file" ]] || { echo "restore: no $MYSQL_DATABASE-*.sql dump in $BACKUP_DIR" >&2; exit 1; }
elif [[ "$file" != /* ]]; then
  file="$BACKUP_DIR/$file"
fi
[[ -f "$file" ]] || { echo "restore: $file does not exist" >&2; exit 1; }

for (( waited = 0; ; waited += 2 )); do
  if "$MYSQLADMIN" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" status >/dev/null 2>&1; then
    break
  fi
  if (( waited >= WAIT_SECONDS )); then
    echo "restore: $MYSQL_HOST:$MYSQL_PORT not ready after ${WAIT_SECONDS}s" >&2
    exit 1
  fi
  sleep 2
done

"$MYSQL" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --user="$MYSQL_USER" "$MYSQL_DATABASE" < "$file"
echo "restore: loaded $file into $MYSQL_DATABASE"
