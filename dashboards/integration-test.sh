#!/usr/bin/env bash
# Checks the shipped rules and dashboards against a real Prometheus.
#
# 1. promtool check rules and promtool test rules (tests/*.yml).
# 2. Starts the exporter ($MDE_EXPORTER_CMD) and a Prometheus that scrapes it
#    as job "mde_exporter" with rules.yml and alerts.yml loaded, both on
#    loopback, and waits until a few scrapes of a loaded snapshot are stored.
# 3. Runs TestPrometheusIntegration (integration_test.go): every query of every
#    dashboard panel, with the variables substituted, must run and return data,
#    and every rule must be loaded, healthy and executable; recording rules and
#    the series alerts read must have data.
#
# Run it from anywhere; it works in the repository root. Environment:
#   MDE_EXPORTER_ADDR    exporter address (default 127.0.0.1:19125)
#   MDE_EXPORTER_CMD     command that starts the exporter on $MDE_EXPORTER_ADDR
#                        (default: go run . --demo --web.listen-address=$MDE_EXPORTER_ADDR)
#   MDE_PROMETHEUS_ADDR  Prometheus address (default 127.0.0.1:19090)
#   PROMETHEUS, PROMTOOL Prometheus binaries (default: prometheus, promtool from PATH;
#                        Debian: apt-get install prometheus)
#   MDE_SCRAPES          scrapes of a loaded snapshot to wait for (default 5)
#   MDE_START_TIMEOUT    seconds to wait for the exporter to answer (default 300,
#                        go run compiles first)
#   MDE_KEEP_TMP=1       keep the working directory (config, TSDB, logs)
set -euo pipefail

cd "$(dirname "$0")/.."

export MDE_EXPORTER_ADDR="${MDE_EXPORTER_ADDR:-127.0.0.1:19125}"
MDE_EXPORTER_CMD="${MDE_EXPORTER_CMD:-go run . --demo --web.listen-address=$MDE_EXPORTER_ADDR}"
MDE_PROMETHEUS_ADDR="${MDE_PROMETHEUS_ADDR:-127.0.0.1:19090}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
PROMTOOL="${PROMTOOL:-promtool}"
MDE_SCRAPES="${MDE_SCRAPES:-5}"
MDE_START_TIMEOUT="${MDE_START_TIMEOUT:-300}"
prom_url="http://$MDE_PROMETHEUS_ADDR"

log() { printf '%s integration-test: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

for tool in "$PROMETHEUS" "$PROMTOOL" curl go; do
	command -v "$tool" >/dev/null || { log "$tool not found (Debian: apt-get install prometheus curl)"; exit 1; }
done

log "promtool check rules"
"$PROMTOOL" check rules dashboards/rules.yml dashboards/alerts.yml
log "promtool test rules"
"$PROMTOOL" test rules dashboards/tests/*.yml

for addr in "$MDE_EXPORTER_ADDR" "$MDE_PROMETHEUS_ADDR"; do
	if curl -s -o /dev/null --max-time 2 "http://$addr/"; then
		log "something already listens on $addr; set MDE_EXPORTER_ADDR / MDE_PROMETHEUS_ADDR"
		exit 1
	fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/mde-dashboards.XXXXXX")"
exporter_pid=""
prometheus_pid=""

# Each process runs in its own process group (setsid), so that stopping the
# group also stops what it started (go run starts the compiled binary).
stop() {
	local pid="$1"
	[[ -n "$pid" ]] || return 0
	kill -TERM -- "-$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do
		kill -0 -- "-$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	stop "$prometheus_pid"
	stop "$exporter_pid"
	if [[ $rc -ne 0 ]]; then
		log "failed; last lines of the logs:"
		tail -n 30 "$work/exporter.log" "$work/prometheus.log" >&2 2>/dev/null || true
	fi
	if [[ "${MDE_KEEP_TMP:-}" == 1 ]]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
rule_files:
  - $PWD/dashboards/rules.yml
  - $PWD/dashboards/alerts.yml
scrape_configs:
  - job_name: mde_exporter
    static_configs:
      - targets: ['$MDE_EXPORTER_ADDR']
EOF

log "starting the exporter: $MDE_EXPORTER_CMD"
setsid bash -c "exec $MDE_EXPORTER_CMD" >"$work/exporter.log" 2>&1 </dev/null &
exporter_pid=$!

deadline=$((SECONDS + MDE_START_TIMEOUT))
until curl -sf -o /dev/null --max-time 5 "http://$MDE_EXPORTER_ADDR/metrics"; do
	kill -0 "$exporter_pid" 2>/dev/null || { log "the exporter exited"; exit 1; }
	((SECONDS < deadline)) || { log "the exporter did not answer on $MDE_EXPORTER_ADDR/metrics within ${MDE_START_TIMEOUT}s"; exit 1; }
	sleep 1
done
log "the exporter answers on $MDE_EXPORTER_ADDR"

log "starting Prometheus on $MDE_PROMETHEUS_ADDR"
setsid "$PROMETHEUS" \
	--config.file="$work/prometheus.yml" \
	--storage.tsdb.path="$work/data" \
	--web.listen-address="$MDE_PROMETHEUS_ADDR" \
	>"$work/prometheus.log" 2>&1 </dev/null &
prometheus_pid=$!

# has_result QUERY: true when the instant query returns at least one series.
has_result() {
	curl -sf --max-time 5 "$prom_url/api/v1/query" --data-urlencode "query=$1" | grep -q '"result":\[{'
}

wait_for() {
	local what="$1" query="$2" timeout="$3"
	local deadline=$((SECONDS + timeout))
	until has_result "$query"; do
		kill -0 "$prometheus_pid" 2>/dev/null || { log "Prometheus exited"; exit 1; }
		kill -0 "$exporter_pid" 2>/dev/null || { log "the exporter exited"; exit 1; }
		((SECONDS < deadline)) || { log "timed out waiting for $what ($query)"; exit 1; }
		sleep 1
	done
	log "$what"
}

wait_for "the exporter is up" 'up{job="mde_exporter"} == 1' 60
wait_for "the exporter serves a snapshot" 'mde_exporter_snapshot_loaded{job="mde_exporter"} == 1' 300
wait_for "$MDE_SCRAPES scrapes of a loaded snapshot are stored" \
	"sum_over_time(mde_exporter_snapshot_loaded{job=\"mde_exporter\"}[5m]) >= $MDE_SCRAPES" 120
# Two more rule evaluations, so that every rule has run on a loaded snapshot.
sleep 5

log "running every dashboard query and rule through $prom_url"
MDE_PROMETHEUS_URL="$prom_url" go test -count=1 -v -run '^TestPrometheusIntegration$' ./dashboards
