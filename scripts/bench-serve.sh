#!/usr/bin/env bash
# make bench, serve part (issue 15): `ferry serve oci:DIR` beside the CNCF registry and nginx on
# 127.0.0.1, in one run:
#   - skopeo copy of a ~1 GiB image out of `ferry serve` and out of the CNCF registry holding
#     the same image (best of RUNS), as a ratio;
#   - blob GET throughput with 16 connections (wrk, 10 s) from `ferry serve` and from nginx
#     serving the same blob files as static content, as a ratio;
#   - the server's peak RSS under that load.
#   scripts/bench-serve.sh FERRY WORK_DIR   (WORK_DIR/src must hold the layout, tag `bench`)
set -euo pipefail
FERRY=$(realpath "${1:?ferry binary}")
WORK=${2:?work directory}
RUNS=${BENCH_RUNS:-3}
cd "$(dirname "$0")/.."
state="$WORK/serve-bench"
rm -rf "$state"; mkdir -p "$state"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do pkill -KILL -P "$pid" 2>/dev/null || true; done
    bash scripts/registry.sh stop "$state/registry" >/dev/null 2>&1 || true
    [ -f "$state/nginx.pid" ] && kill "$(cat "$state/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The CNCF registry, holding the same image.
bash scripts/registry.sh start "$state/registry" plain >/dev/null
registry=$(sed -n 's/^FERRY_TEST_REGISTRY=//p' "$state/registry/env")
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$WORK/src:bench" "docker://$registry/bench:bench"

# ferry serve, under /usr/bin/time for its peak RSS.
/usr/bin/time -f '%M' -o "$state/serve.rss" "$FERRY" serve "oci:$WORK/src" --repository bench --addr 127.0.0.1:0 2>"$state/serve.log" &
pids+=($!)
for _ in $(seq 100); do grep -q ' on http://' "$state/serve.log" 2>/dev/null && break; sleep 0.1; done
served=$(sed -n 's/.* on http:\/\///p' "$state/serve.log" | head -1)

pull_once() {   # wall time of skopeo pulling docker://$1 into a fresh layout
    rm -rf "$state/pulled"; sync
    local t0; t0=$(now)
    skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$1" "oci:$state/pulled:bench" >/dev/null
    echo "$(now) - $t0" | bc
}
better() { if [ -z "$1" ] || (( $(echo "$2 < $1" | bc) )); then echo "$2"; else echo "$1"; fi; }
# Turn about, so that a slower or faster spell of the machine falls on both alike; best of RUNS.
t_serve=""; t_registry=""
for _ in $(seq "$RUNS"); do
    t_serve=$(better "$t_serve" "$(pull_once "$served/bench:bench")")
    t_registry=$(better "$t_registry" "$(pull_once "$registry/bench:bench")")
done

# nginx serving the layout's files as static content (sendfile on).
nport=$(free_port)
mkdir -p "$state/nginx"
cat >"$state/nginx.conf" <<CONF
user root;
worker_processes 2;
pid $state/nginx.pid;
error_log $state/nginx/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $state/nginx;
    proxy_temp_path $state/nginx;
    fastcgi_temp_path $state/nginx;
    uwsgi_temp_path $state/nginx;
    scgi_temp_path $state/nginx;
    server { listen 127.0.0.1:$nport; root $WORK/src; }
}
CONF
nginx -c "$state/nginx.conf" -p "$state/nginx" -g 'daemon on;'
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$nport/oci-layout" && break; sleep 0.1; done

# One mid-sized layer, fetched over and over by 16 connections.
blob=$(ls -S "$WORK/src/blobs/sha256" | head -1)
rate() {   # transfer rate in MiB/s that wrk reports for URL
    wrk -t2 -c16 -d10s "$1" | awk '/Transfer\/sec/ { v=$2; u=substr(v, length(v)-1); n=substr(v, 1, length(v)-2);
        if (u=="GB") n*=1024; else if (u=="KB") n/=1024; print n }'
}
r_serve=$(rate "http://$served/v2/bench/blobs/sha256:$blob")
r_nginx=$(rate "http://127.0.0.1:$nport/blobs/sha256/$blob")
# SIGTERM to ferry itself (time would die of it and leave ferry running), then time reports.
pkill -TERM -P "${pids[0]}" || true; wait "${pids[0]}" 2>/dev/null || true; pids=()
rss=$(tail -1 "$state/serve.rss")

printf '\nferry bench: ferry serve oci:DIR (127.0.0.1, plain HTTP), the same layout\n'
printf '  skopeo copy out of ferry serve             %7.2f s\n' "$t_serve"
printf '  skopeo copy out of the CNCF registry       %7.2f s\n' "$t_registry"
printf '  blob GET, 16 connections, ferry serve      %7.0f MiB/s\n' "$r_serve"
printf '  blob GET, 16 connections, nginx            %7.0f MiB/s\n' "$r_nginx"
printf '  ferry serve peak RSS (whole run)           %7.1f MiB\n' "$(echo "$rss/1024" | bc -l)"
printf '  pull: ferry serve %.2fx faster than the CNCF registry; blob GETs: nginx %.2fx ferry serve\n' \
    "$(echo "$t_registry / $t_serve" | bc -l)" "$(echo "$r_nginx / $r_serve" | bc -l)"
