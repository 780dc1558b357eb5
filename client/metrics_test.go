package client

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The metric names are shared with dashboards and alerts: they must not drift.
func TestMetricNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.requests.WithLabelValues("token", "200").Inc()

	want := []string{
		"mde_exporter_api_requests_total",
		"mde_exporter_api_throttled_total",
		"mde_exporter_api_throttled_wait_seconds_total",
		"mde_exporter_api_retries_total",
		"mde_exporter_rate_limiter_wait_seconds_total",
		"mde_exporter_token_failures_total",
		"mde_exporter_sas_url_refreshes_total",
		"mde_exporter_export_downloaded_bytes_total",
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != len(want) {
		t.Errorf("registered %d metrics, want %d", len(families), len(want))
	}
	for _, name := range want {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}

	expected := `
# HELP mde_exporter_api_throttled_total Answers with status 429 (too many requests), by endpoint.
# TYPE mde_exporter_api_throttled_total counter
mde_exporter_api_throttled_total{endpoint="baseline_assessments"} 0
mde_exporter_api_throttled_total{endpoint="baseline_configurations"} 0
mde_exporter_api_throttled_total{endpoint="baseline_export"} 0
mde_exporter_api_throttled_total{endpoint="baseline_profiles"} 0
mde_exporter_api_throttled_total{endpoint="export_file"} 0
mde_exporter_api_throttled_total{endpoint="token"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expected), "mde_exporter_api_throttled_total"); err != nil {
		t.Error(err)
	}
}
