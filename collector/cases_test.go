package collector_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// Inputs that broke other clients of the Defender export APIs, named K01 to K11,
// each read end to end from a simulated tenant over HTTP and checked on the
// metrics a user reads.

// K01: the first export URL is an empty blob, the second one's SAS has expired.
// The empty blob is zero records; the export endpoint is asked once more, within
// its documented limits, and the run succeeds. A URL that stays dead fails the
// refresh after that one renewal.
func TestK01EmptyBlobAndExpiredSAS(t *testing.T) {
	t.Parallel()
	tenant := simulator.Options{Seed: 101, Devices: 40, Profiles: 2, ConfigurationsPerProfile: 6, RbacGroups: 1,
		EmptyParts: 1, PartRecords: 10_000, EnforceRateLimits: true}
	// The documented limits, enforced on both sides; one download at a time, so
	// that the empty blob (listed first) is read first.
	documented := withClient(func(c *client.Config) { c.Limits, c.DownloadWorkers = client.DefaultLimits(), 1 })

	t.Run("renewed once", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, tenant, collector.ModeFiles, documented)
		h.tenant.Inject(func() simulator.Fault { f := simulator.SASExpired(); f.Skip = 1; return f }())

		h.mustRefresh()
		h.serves(h.tenant.Expected())
		h.want(map[string]float64{
			"mde_exporter_refresh_success":                                             1,
			"mde_exporter_sas_url_refreshes_total":                                     1,
			`mde_exporter_api_requests_total{endpoint="export_file",code="200"}`:       2,
			`mde_exporter_api_requests_total{endpoint="export_file",code="403"}`:       1,
			`mde_exporter_api_requests_total{endpoint="baseline_export",code="200"}`:   2,
			`mde_exporter_api_throttled_total{endpoint="baseline_export"}`:             0,
			`mde_exporter_rate_limiter_wait_seconds_total{endpoint="baseline_export"}`: 0,
			`mde_exporter_refresh_failures_total{reason="decode"}`:                     0,
		})
	})

	t.Run("dead URL", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, tenant, collector.ModeFiles, documented)
		h.tenant.Inject(func() simulator.Fault { f := simulator.SASExpired(); f.Skip, f.Times = 1, -1; return f }())

		err := h.refresh()
		if client.Reason(err) != "export" {
			t.Fatalf("refresh: %v (reason %q), want reason export", err, client.Reason(err))
		}
		h.want(map[string]float64{
			"mde_exporter_snapshot_loaded":                                           0,
			"mde_exporter_sas_url_refreshes_total":                                   1,
			`mde_exporter_refresh_failures_total{reason="export"}`:                   1,
			`mde_exporter_api_requests_total{endpoint="baseline_export",code="200"}`: 2,
			`mde_exporter_api_requests_total{endpoint="export_file",code="403"}`:     2,
		})
		h.wantLogged("level=error", "reason=export", "refused again right after their URLs were renewed")
	})
}

// K02: the files are PascalCase, the JSON API camelCase; both modes give the
// same metrics, equal to the tenant's counts, whatever the files' casing.
// (Memory not growing with a part's size is TestDecodeLinesMemoryDoesNotGrowWithInput
// in the client.)
func TestK02BothCasingsGiveTheSameMetrics(t *testing.T) {
	for _, casing := range []simulator.Casing{simulator.PascalCase, simulator.CamelCase} {
		t.Run(fmt.Sprintf("file casing %d", casing), func(t *testing.T) {
			t.Parallel()
			tenant := simulator.Options{Seed: 102, Devices: 120, Profiles: 3, ConfigurationsPerProfile: 10, OddShare: 0.2,
				PartRecords: 400, FileCasing: casing, Shuffle: true}

			served := make(map[string]map[string]float64)
			for _, mode := range []string{collector.ModeFiles, collector.ModeJSON} {
				h := newHarness(t, tenant, mode)
				h.mustRefresh()
				h.serves(h.tenant.Expected())
				served[mode] = gatherFrom(t, h.registry, "mde_baseline_devices", deviceLabels...)
			}
			diff(t, "json vs files mde_baseline_devices", served[collector.ModeJSON], served[collector.ModeFiles])
		})
	}
}

// K03: 429 with Retry-After: 37 and error.code "429", later the hourly form with
// Retry-After: 2400. Both waits pass the refresh deadline: the refresh fails at
// once as throttled and the last good snapshot stays. A wait within the deadline
// is waited.
func TestK03ThrottledPastTheDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faultTenant, collector.ModeFiles, withRefresh(func(c *collector.Config) { c.Timeout = 20 * time.Second }))
	h.mustRefresh()
	good := h.tenant.Expected()
	next := h.newExport()

	for i, throttle := range []simulator.Fault{
		simulator.Throttle(simulator.EndpointExport, 37*time.Second, false),
		simulator.Throttle(simulator.EndpointExport, 2400*time.Second, true),
	} {
		h.tenant.Inject(throttle)
		start := time.Now()
		err := h.refresh()
		if client.Reason(err) != "throttled" {
			t.Fatalf("refresh: %v (reason %q), want reason throttled", err, client.Reason(err))
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the refresh took %s: a Retry-After past the deadline must fail at once", took)
		}
		h.serves(good)
		h.want(map[string]float64{
			`mde_exporter_refresh_failures_total{reason="throttled"}`: float64(i + 1),
			"mde_exporter_refresh_success":                            0,
		})
	}
	h.wantLogged("level=error", "reason=throttled", "retry after 37s would pass the deadline", "per 00:01:00")
	h.wantLogged("level=error", "reason=throttled", "retry after 40m0s would pass the deadline", "per 01:00:00")

	h.tenant.Inject(simulator.Throttle(simulator.EndpointExport, 2*time.Second, false))
	h.mustRefresh()
	h.serves(next)
	h.want(map[string]float64{
		`mde_exporter_api_throttled_total{endpoint="baseline_export"}`:              3,
		`mde_exporter_api_throttled_wait_seconds_total{endpoint="baseline_export"}`: 2,
	})
}

// K04: page 1 has a nextLink to page 2, which answers 429 with Retry-After: 5,
// then the last page. The same page is fetched again after the wait; the totals
// match the tenant's records exactly.
func TestK04ThrottledPageIsFetchedAgain(t *testing.T) {
	t.Parallel()
	tenant := simulator.Options{Seed: 104, Devices: 100, Profiles: 2, ConfigurationsPerProfile: 10}
	probe, err := simulator.Start(tenant)
	if err != nil {
		t.Fatal(err)
	}
	records := probe.Expected().Records
	probe.Close()
	halfPages := withClient(func(c *client.Config) { c.PageSize = (records + 1) / 2 })

	h := newHarness(t, tenant, collector.ModeJSON, halfPages)
	throttle := simulator.Throttle(simulator.EndpointAssessments, 5*time.Second, false)
	throttle.Skip = 1
	h.tenant.Inject(throttle)

	h.mustRefresh()
	h.serves(h.tenant.Expected())
	h.want(map[string]float64{
		"mde_exporter_snapshot_records":                                                  float64(records),
		`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="200"}`:    2,
		`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="429"}`:    1,
		`mde_exporter_api_throttled_wait_seconds_total{endpoint="baseline_assessments"}`: 5,
	})
}

// K05: the export endpoint answers 503 through three refreshes, then 200. Each
// refresh retries with backoff; the failed ones keep the last snapshot, whose age
// grows; the fourth serves the new export. A record with "source":null and
// "currentValue":null counts like any other.
func TestK05ServerErrorsForThreeRefreshes(t *testing.T) {
	t.Parallel()
	tenant := faultTenant
	tenant.OddShare = 0.3 // null arrays among them
	h := newHarness(t, tenant, collector.ModeFiles, withClient(func(c *client.Config) { c.MaxRetries = 1 }))
	h.mustRefresh()
	good := h.tenant.Expected()
	goodAt := h.metric("mde_exporter_last_refresh_success_timestamp_seconds")
	next := h.newExport()

	unavailable := simulator.ServerError(simulator.EndpointExport)
	unavailable.Status, unavailable.Times = http.StatusServiceUnavailable, 6 // two tries in each of three refreshes
	h.tenant.Inject(unavailable)
	for i := range 3 {
		if err := h.refresh(); client.Reason(err) != "http" {
			t.Fatalf("refresh %d: %v (reason %q), want reason http", i+1, err, client.Reason(err))
		}
		h.serves(good)
		h.want(map[string]float64{
			`mde_exporter_refresh_failures_total{reason="http"}`:  float64(i + 1),
			"mde_exporter_last_refresh_success_timestamp_seconds": goodAt,
		})
	}
	h.wantLogged("level=error", "reason=http", "giving up after 1 retries", "HTTP 503")

	h.tenant.Inject(simulator.ServerError(simulator.EndpointExport)) // 500 InternalServerError, once
	h.mustRefresh()
	h.serves(next)
	h.want(map[string]float64{
		`mde_exporter_api_requests_total{endpoint="baseline_export",code="503"}`: 6,
		`mde_exporter_api_requests_total{endpoint="baseline_export",code="500"}`: 1,
		`mde_exporter_api_retries_total{endpoint="baseline_export"}`:             4,
		"mde_exporter_refresh_success":                                           1,
	})
	if at := h.metric("mde_exporter_last_refresh_success_timestamp_seconds"); at <= goodAt {
		t.Errorf("last success %v after a good refresh, want later than %v", at, goodAt)
	}
}

// K06: a token requested for a regional host's resource is refused with 400
// invalid_resource AADSTS500011. It is asked once, the code reaches the log, and
// nothing is served.
func TestK06RegionalResourceIsRefusedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faultTenant, collector.ModeFiles, withClient(func(c *client.Config) {
		c.Scope = "https://api-uk.securitycenter.windows.com/.default"
	}))

	if err := h.refresh(); client.Reason(err) != "auth" {
		t.Fatalf("refresh: %v (reason %q), want reason auth", err, client.Reason(err))
	}
	h.want(map[string]float64{
		`mde_exporter_api_requests_total{endpoint="token",code="400"}`: 1,
		"mde_exporter_token_failures_total":                            1,
		`mde_exporter_refresh_failures_total{reason="auth"}`:           1,
		"mde_exporter_snapshot_loaded":                                 0,
	})
	h.wantLogged("level=error", "token request rejected", "aadsts=AADSTS500011", "error=invalid_resource")
}

// K08: profiles in both documented spellings (createdOnTimeOffset, and the zero
// createdOnTimestampUTC with lastUpdatedBy null) and configurations with their
// cce and list fields give one info series each, with their names.
func TestK08ProfileAndConfigurationInfo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{Seed: 108, Devices: 60, Profiles: 4, ConfigurationsPerProfile: 5}, collector.ModeFiles)
	h.mustRefresh()

	profiles := gatherFrom(t, h.registry, "mde_baseline_profile_info", "profile_id", "profile_name", "benchmark", "benchmark_version", "active")
	want := make(map[string]float64)
	for _, p := range h.tenant.Profiles() {
		want[strings.Join([]string{p.ID, p.Name, p.Benchmark, p.Version, fmt.Sprint(p.Status)}, "|")] = 1
	}
	diff(t, "mde_baseline_profile_info", profiles, want)

	known := make(map[string]bool)
	for _, c := range h.tenant.Configurations() {
		known[strings.Join([]string{c.ID, c.Name, c.CCE}, "|")] = true
	}
	configurations := gatherFrom(t, h.registry, "mde_baseline_configuration_info", "configuration_id", "configuration_name", "cce")
	if len(configurations) == 0 {
		t.Fatal("no mde_baseline_configuration_info")
	}
	for key := range configurations {
		if !known[key] {
			t.Errorf("mde_baseline_configuration_info{configuration_id|configuration_name|cce=%q} names no configuration of the tenant", key)
		}
	}
}

// K09: {"isApplicable":false,"isCompliant":false} and {"isApplicable":false}
// without isCompliant both count as not applicable, never as non-compliant, in
// both modes.
func TestK09NotApplicableIsNeverNonCompliant(t *testing.T) {
	notApplicable := apiRecord(1, "18.9.47.5.1.2", false, false)
	noCompliantKey := strings.Replace(apiRecord(2, "18.9.47.5.1.2", false, false), `"isCompliant":false,`, "", 1)
	want := map[string]float64{
		`mde_baseline_devices{configuration_id="18.9.47.5.1.2",status="not_applicable"}`: 2,
		`mde_baseline_profile_devices{status="not_applicable"}`:                          2,
		"mde_exporter_snapshot_records":                                                  2,
	}
	absent := []string{`mde_baseline_devices{status="non_compliant"}`, `mde_baseline_profile_devices{status="non_compliant"}`}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, faultTenant, collector.ModeJSON)
		servePages(h, page([]string{notApplicable, noCompliantKey}, ""))
		h.mustRefresh()
		h.want(want)
		h.wantAbsent(absent...)
	})

	t.Run("files", func(t *testing.T) {
		t.Parallel()
		// No devices: the export lists one empty blob, served with the two lines.
		h := newHarness(t, simulator.Options{Seed: 109, Devices: -1, EmptyParts: 1}, collector.ModeFiles)
		lines := pascalCase(notApplicable) + "\n" + pascalCase(noCompliantKey) + "\n"
		h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, Status: http.StatusOK, Body: gzipText(t, lines)})
		h.mustRefresh()
		h.want(want)
		h.wantAbsent(absent...)
	})
}

// pascalCase turns a camelCase record into the export files' spelling.
func pascalCase(record string) string {
	return strings.NewReplacer(`"id"`, `"Id"`, `"configurationId"`, `"ConfigurationId"`, `"deviceId"`, `"DeviceId"`,
		`"deviceName"`, `"DeviceName"`, `"profileId"`, `"ProfileId"`, `"osPlatform"`, `"OSPlatform"`, `"osVersion"`, `"OSVersion"`,
		`"rbacGroupId"`, `"RbacGroupId"`, `"rbacGroupName"`, `"RbacGroupName"`, `"isApplicable"`, `"IsApplicable"`,
		`"isCompliant"`, `"IsCompliant"`, `"dataCollectionTimeOffset"`, `"DataCollectionTimeOffset"`,
		`"recommendedValue"`, `"RecommendedValue"`, `"currentValue"`, `"CurrentValue"`, `"source"`, `"Source"`).Replace(record)
}

// K10: the last page has no @odata.nextLink key, or "@odata.nextLink":null.
// Both end the pagination after exactly the tenant's pages.
func TestK10LastPageEndsPagination(t *testing.T) {
	for _, null := range []bool{false, true} {
		t.Run(fmt.Sprintf("null nextLink %v", null), func(t *testing.T) {
			t.Parallel()
			tenant := faultTenant
			tenant.NullNextLinkOnLastPage = null
			h := newHarness(t, tenant, collector.ModeJSON, withClient(func(c *client.Config) { c.PageSize = faultPageSize }))

			h.mustRefresh()
			expected := h.tenant.Expected()
			h.serves(expected)
			pages := (expected.Records + faultPageSize - 1) / faultPageSize
			h.want(map[string]float64{
				`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="200"}`: float64(pages),
				"mde_exporter_refresh_success": 1,
			})
		})
	}
}

// K11: {"exportFiles":[],"generatedTime":…} is a successful refresh with zero
// records: loaded, no baseline series, the export's time published.
func TestK11EmptyExportIsASuccess(t *testing.T) {
	t.Parallel()
	h := newHarness(t, simulator.Options{Seed: 111, Devices: -1}, collector.ModeFiles)

	h.mustRefresh()
	h.want(map[string]float64{
		"mde_exporter_refresh_success":                      1,
		"mde_exporter_snapshot_loaded":                      1,
		"mde_exporter_snapshot_records":                     0,
		"mde_exporter_snapshot_generated_timestamp_seconds": float64(h.tenant.Expected().GeneratedTime.Unix()),
	})
	h.wantAbsent("mde_baseline_devices", "mde_baseline_profile_devices")
	if n := h.tenant.Requests(simulator.EndpointExportFile); n != 0 {
		t.Errorf("%d downloads for an export without files", n)
	}
}
