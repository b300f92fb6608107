#!/usr/bin/env bash
# Make the secrets deploy/compose.yaml mounts, once: the server pepper, the audit key, the
# PostgreSQL password (and the gateway's .pgpass line for it), and, only if no
# certificate is there yet, a self-signed TLS certificate for trying the stack out.
#
#   sudo ./make-secrets.sh [FOLDER]        (default: deploy/secrets)
#
# Existing files are never overwritten: a new server pepper would make every stored case
# unfindable by its pickup code. Back the folder up with the database (docs/DEPLOY.md).
# Runs as root because the files are handed to the containers' users: uid 10001 (the
# gateway) and 999 (PostgreSQL in the official image), readable by them alone.
set -euo pipefail
umask 077

GATEWAY_UID=10001
POSTGRES_UID=999

folder=${1:-"$(cd "$(dirname "$0")" && pwd)/secrets"}

if [ "$(id -u)" -ne 0 ]; then
    echo "make-secrets.sh: run as root (sudo), so the files can be given to the containers' users" >&2
    exit 1
fi

# 32 bytes from the kernel's CSPRNG as unpadded base64url: what `tipline secret new` prints.
new_secret() {
    head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# create_once FILE OWNER CONTENT-COMMAND...: create FILE from the command's output unless it exists.
create_once() {
    local file=$1 owner=$2
    shift 2
    if [ -e "$folder/$file" ]; then
        echo "kept     $folder/$file"
    else
        "$@" > "$folder/$file.new"
        mv "$folder/$file.new" "$folder/$file"
        echo "created  $folder/$file"
    fi
    chown "$owner:$owner" "$folder/$file"
    chmod 0400 "$folder/$file"
}

pgpass_line() {
    # host:port:database:user:password, as libpq and asyncpg read it (PGPASSFILE).
    printf 'postgres:5432:tipline:tipline:%s\n' "$(cat "$folder/postgres_password")"
}

mkdir -p "$folder"
chmod 0700 "$folder"
create_once server_pepper "$GATEWAY_UID" new_secret
create_once audit_key "$GATEWAY_UID" new_secret
create_once postgres_password "$POSTGRES_UID" new_secret
create_once pgpass "$GATEWAY_UID" pgpass_line

if [ ! -e "$folder/tls/fullchain.pem" ]; then
    mkdir -p "$folder/tls"
    chmod 0700 "$folder/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=localhost" -keyout "$folder/tls/privkey.pem" -out "$folder/tls/fullchain.pem" \
        2>/dev/null
    chmod 0400 "$folder/tls/privkey.pem"
    echo "created  $folder/tls (self-signed, for trying out only: put your real certificate there)"
fi
