// Package collector turns Defender for Endpoint security-baseline assessments
// into Prometheus metrics: it aggregates the export while it streams in, keeps
// the last complete snapshot, and serves it without calling Microsoft.
package collector

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "mde"

// FailureReasons are the values of the reason label of
// mde_exporter_refresh_failures_total; each is exported from the start at 0.
var FailureReasons = []string{"auth", "throttled", "timeout", "http", "decode", "pagination", "export", "canceled", "other"}

// skipMissingKey is the reason label of mde_exporter_records_skipped_total for a
// record without deviceId, profileId or configurationId, which no series can
// count. It is the only reason a record is skipped.
const skipMissingKey = "missing_key"

var (
	devicesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "baseline", "devices"),
		"Devices assessed against a baseline configuration, by status, from the last complete export (cached; refreshed in the background).",
		[]string{"profile_id", "configuration_id", "rbac_group", "os_platform", "status"}, nil,
	)
	profileDevicesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "baseline", "profile_devices"),
		"Devices that pass every applicable configuration of a profile (compliant), fail at least one (non_compliant), or have none applicable (not_applicable), from the last complete export (cached).",
		[]string{"profile_id", "rbac_group", "os_platform", "status"}, nil,
	)
	profileInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "baseline", "profile_info"),
		"Names and metadata of a security-baseline profile, always 1 (cached).",
		[]string{"profile_id", "profile_name", "benchmark", "benchmark_version", "operating_system", "operating_system_version", "compliance_level", "active"}, nil,
	)
	configurationInfoDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "baseline", "configuration_info"),
		"Names of a configuration assessed in a profile, always 1 (cached).",
		[]string{"profile_id", "configuration_id", "configuration_name", "category", "benchmark", "benchmark_version", "cce"}, nil,
	)

	refreshSuccessDesc = exporterDesc("refresh_success",
		"Whether the last refresh of the export succeeded (1) or failed (0).")
	refreshDurationDesc = exporterDesc("refresh_duration_seconds",
		"How long the last refresh of the export took.")
	refreshesDesc = exporterDesc("refreshes_total",
		"Refreshes of the export attempted.")
	refreshFailuresDesc = exporterDesc("refresh_failures_total",
		"Refreshes of the export that failed, by reason.", "reason")
	lastSuccessDesc = exporterDesc("last_refresh_success_timestamp_seconds",
		"When the last successful refresh finished, as a Unix time.")
	generatedDesc = exporterDesc("snapshot_generated_timestamp_seconds",
		"When Defender generated the export being served, as a Unix time.")
	loadedDesc = exporterDesc("snapshot_loaded",
		"Whether a complete snapshot is being served (1) or none was loaded yet (0).")
	snapshotRecordsDesc = exporterDesc("snapshot_records",
		"Assessment records counted in the snapshot being served.")
	recordsProcessedDesc = exporterDesc("records_processed_total",
		"Assessment records read by all refreshes, successful or not.")
	recordsSkippedDesc = exporterDesc("records_skipped_total",
		"Assessment records skipped by all refreshes, successful or not, by reason (missing_key: no device, profile or configuration id).", "reason")
)

func exporterDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "exporter", name), help, labels, nil)
}

// Collector serves the refresher's last snapshot and health as metrics. A
// scrape only reads memory; it never waits for a refresh.
type Collector struct {
	refresher *Refresher
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector for the snapshots of r.
func NewCollector(r *Refresher) *Collector {
	return &Collector{refresher: r}
}

// Describe implements the prometheus.Collector interface.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		devicesDesc, profileDevicesDesc, profileInfoDesc, configurationInfoDesc,
		refreshSuccessDesc, refreshDurationDesc, refreshesDesc, refreshFailuresDesc,
		lastSuccessDesc, generatedDesc, loadedDesc, snapshotRecordsDesc, recordsProcessedDesc, recordsSkippedDesc,
	} {
		ch <- d
	}
}

// Collect implements the prometheus.Collector interface. It may run
// concurrently with itself and with a refresh.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.collectHealth(ch)

	snap := c.refresher.Snapshot()
	if snap == nil {
		ch <- prometheus.MustNewConstMetric(loadedDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(loadedDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(snapshotRecordsDesc, prometheus.GaugeValue, float64(snap.Records))
	if !snap.GeneratedTime.IsZero() {
		ch <- prometheus.MustNewConstMetric(generatedDesc, prometheus.GaugeValue, unixSeconds(snap.GeneratedTime))
	}

	// The baseline metrics are built once per snapshot, not once per scrape.
	metrics := snap.metrics()
	for i := range metrics {
		ch <- &metrics[i]
	}
}

func (c *Collector) collectHealth(ch chan<- prometheus.Metric) {
	h := c.refresher.healthCopy()

	ch <- prometheus.MustNewConstMetric(refreshesDesc, prometheus.CounterValue, float64(h.refreshes))
	ch <- prometheus.MustNewConstMetric(recordsProcessedDesc, prometheus.CounterValue, float64(h.records))
	ch <- prometheus.MustNewConstMetric(recordsSkippedDesc, prometheus.CounterValue, float64(h.skipped), skipMissingKey)
	for _, reason := range reasons(h.failures) {
		ch <- prometheus.MustNewConstMetric(refreshFailuresDesc, prometheus.CounterValue, float64(h.failures[reason]), reason)
	}

	// A restored snapshot has a last success before this process refreshed.
	if !h.lastSuccessAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, unixSeconds(h.lastSuccessAt))
	}
	if !h.attempted {
		return
	}
	ch <- prometheus.MustNewConstMetric(refreshSuccessDesc, prometheus.GaugeValue, boolValue(h.lastSucceeded))
	ch <- prometheus.MustNewConstMetric(refreshDurationDesc, prometheus.GaugeValue, h.lastDuration.Seconds())
}

// reasons returns the known failure reasons plus any other that occurred.
func reasons(failures map[string]uint64) []string {
	out := slices.Clone(FailureReasons)
	for reason := range failures {
		if !slices.Contains(out, reason) {
			out = append(out, reason)
		}
	}
	return out
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
