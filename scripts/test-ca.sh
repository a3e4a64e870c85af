#!/usr/bin/env bash
# scripts/test-ca.sh DIR: a CA and a server certificate for 127.0.0.1 and localhost, signed by it,
# for the test servers (DIR/ca.pem, DIR/server.pem, DIR/server.key); kept when already there.
set -euo pipefail
DIR=${1:?directory}
mkdir -p "$DIR"
[ -f "$DIR/server.pem" ] && exit 0
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-test-ca \
    -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$DIR/server.key" \
    -out "$DIR/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$DIR/ext"
openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" \
    -CAcreateserial -days 2 -extfile "$DIR/ext" -out "$DIR/server.pem" 2>/dev/null
