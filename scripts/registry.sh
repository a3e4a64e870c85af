#!/usr/bin/env bash
# CNCF distribution registries (Debian's docker-registry) on 127.0.0.1 for the docker:// tests,
# each on a free port, stopped by PID:
#   plain    HTTP, filesystem storage, deletes enabled
#   secure   HTTPS with a certificate from a CA made here, htpasswd Basic auth
#   token    HTTP, the `auth: token` Bearer flow with scripts/token-issuer.py as the token endpoint
#   s3       HTTP, storage on the SeaweedFS S3 server `make test` starts (blob GETs answer with a
#            redirect to a presigned URL on the S3 host); only when FERRY_TEST_S3_ENDPOINT is set
#   scripts/registry.sh start DIR [NAME...]   start them (or only those named) and write DIR/env
#                                    with FERRY_TEST_REGISTRY_*
#   scripts/registry.sh stop DIR    stop them: SIGTERM, then SIGKILL
#   scripts/registry.sh restart DIR NAME   stop and start one again on the same port and data
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop|restart}; DIR=${2:?state directory}
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Writes DIR/NAME.yml for one registry.
configure() {
    local name=$1 port=$2
    {
        # The plain registry logs each request (the tests read which blobs were mounted or sent).
        printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: %s\n' "$([ "$name" = plain ] && echo false || echo true)"
        # A stopped registry first finishes the requests it is serving (up to 5 s), as a
        # registry restarted in production does.
        # A fixed secret, as a production registry has: upload sessions survive a restart.
        printf 'http:\n  addr: 127.0.0.1:%s\n  draintimeout: 5s\n  secret: %s\n' "$port" "$(cat "$DIR/secret")"
        [ "$name" = secure ] && printf '  tls:\n    certificate: %s\n    key: %s\n' "$DIR/tls/server.pem" "$DIR/tls/server.key"
        printf 'storage:\n  delete:\n    enabled: true\n'
        if [ "$name" = s3 ]; then
            printf '  s3:\n    accesskey: %s\n    secretkey: %s\n    region: us-east-1\n    regionendpoint: %s\n' \
                "$FERRY_TEST_S3_ACCESS_KEY" "$FERRY_TEST_S3_SECRET_KEY" "$FERRY_TEST_S3_ENDPOINT"
            printf '    bucket: ferry-registry\n    secure: false\n    v4auth: true\n    forcepathstyle: true\n'
        else
            printf '  filesystem:\n    rootdirectory: %s\n' "$DIR/$name-data"
        fi
        [ "$name" = secure ] && printf 'auth:\n  htpasswd:\n    realm: ferry-test\n    path: %s\n' "$DIR/htpasswd"
        if [ "$name" = token ]; then
            printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: ferry-test-registry\n' "$(cat "$DIR/issuer.port")"
            printf '    issuer: ferry-test-issuer\n    rootcertbundle: %s\n' "$DIR/token/cert.pem"
        fi
        true
    } >"$DIR/$name.yml"
}

start_one() {
    local name=$1 port
    port=$(grep "^$name=" "$DIR/ports" | cut -d= -f2)
    # The registry's AWS SDK cannot load AWS_CA_BUNDLE with its own transport: it is not needed here.
    env -u AWS_CA_BUNDLE docker-registry serve "$DIR/$name.yml" >>"$DIR/$name.log" 2>&1 &
    echo $! >"$DIR/$name.pid"
    local scheme=http; [ "$name" = secure ] && scheme=https
    for _ in $(seq 100); do
        code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/v2/" || true)
        [ "$code" != "000" ] && return 0
        kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || { tail -5 "$DIR/$name.log" >&2; return 1; }
        sleep 0.1
    done
    echo "registry $name: no answer on 127.0.0.1:$port" >&2
    return 1
}

stop_one() {
    local name=$1
    [ -f "$DIR/$name.pid" ] || return 0
    local pid; pid=$(cat "$DIR/$name.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/$name.pid"
}

names() {
    if [ -n "${ONLY:-}" ]; then echo "$ONLY"; return; fi
    echo plain secure token
    [ -n "${FERRY_TEST_S3_ENDPOINT:-}" ] && echo s3
    true
}

case "$cmd" in
start)
    ONLY="${*:3}"
    command -v docker-registry >/dev/null || { echo "registry: docker-registry is not installed (make deps)" >&2; exit 1; }
    mkdir -p "$DIR/tls"
    bash scripts/test-ca.sh "$DIR/tls"
    htpasswd -Bbn ferry ferry-registry-secret >"$DIR/htpasswd"
    [ -f "$DIR/secret" ] || openssl rand -hex 16 >"$DIR/secret"
    mkdir -p "$DIR/token"
    [ -f "$DIR/token/key.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ferry-test-issuer \
        -keyout "$DIR/token/key.pem" -out "$DIR/token/cert.pem" 2>/dev/null
    rm -f "$DIR/issuer.port"
    python3 scripts/token-issuer.py "$DIR/token/key.pem" "$DIR/token/cert.pem" ferry ferry-registry-secret "$DIR/issuer.port" \
        >>"$DIR/issuer.log" 2>&1 &
    echo $! >"$DIR/issuer.pid"
    for _ in $(seq 100); do [ -f "$DIR/issuer.port" ] && break; sleep 0.05; done
    [ -f "$DIR/issuer.port" ] || { echo "registry: the token issuer did not start" >&2; cat "$DIR/issuer.log" >&2; exit 1; }
    if [ -n "${FERRY_TEST_S3_ENDPOINT:-}" ]; then
        curl -s -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" --user "$FERRY_TEST_S3_ACCESS_KEY:$FERRY_TEST_S3_SECRET_KEY" \
            -X PUT "$FERRY_TEST_S3_ENDPOINT/ferry-registry"
    fi
    [ -f "$DIR/ports" ] || for name in $(names); do echo "$name=$(free_port)"; done >"$DIR/ports"
    for name in $(names); do
        configure "$name" "$(grep "^$name=" "$DIR/ports" | cut -d= -f2)"
        start_one "$name" || { "$0" stop "$DIR"; exit 1; }
    done
    . "$DIR/ports"
    {
        echo "FERRY_TEST_REGISTRY=127.0.0.1:$plain"
        [ -n "${secure:-}" ] && echo "FERRY_TEST_REGISTRY_SECURE=127.0.0.1:$secure"
        [ -n "${token:-}" ] && echo "FERRY_TEST_REGISTRY_TOKEN_AUTH=127.0.0.1:$token"
        echo "FERRY_TEST_REGISTRY_CA=$DIR/tls/ca.pem"
        echo "FERRY_TEST_REGISTRY_USER=ferry"
        echo "FERRY_TEST_REGISTRY_PASSWORD=ferry-registry-secret"
        [ -n "${s3:-}" ] && echo "FERRY_TEST_REGISTRY_S3=127.0.0.1:$s3"
        echo "FERRY_TEST_REGISTRY_STATE=$DIR"
        echo "FERRY_TEST_REGISTRY_SCRIPT=$(pwd)/scripts/registry.sh"
    } >"$DIR/env"
    echo "registry: $(names | tr '\n' ' ')on 127.0.0.1"
    ;;
restart)
    name=${3:?registry name}
    stop_one "$name"
    start_one "$name"
    ;;
stop)
    for name in plain secure token s3 issuer; do stop_one "$name"; done
    ;;
*) echo "usage: $0 start|stop DIR | restart DIR NAME" >&2; exit 2 ;;
esac
