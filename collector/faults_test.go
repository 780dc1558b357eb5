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

// faultTenant is the tenant of the fault tests: 640 records, in five export
// files and, at 100 records a page, seven JSON pages.
var faultTenant = simulator.Options{Seed: 1, Devices: 80, Profiles: 3, ConfigurationsPerProfile: 8, RbacGroups: 3, PartRecords: 200}

// faultPageSize is the page size of the fault tests in json mode.
const faultPageSize = 100

// A faultCase is one fault the tenant shows while the exporter reads a new
// export, after a first good refresh.
type faultCase struct {
	name string
	mode string
	// tenant replaces faultTenant when set.
	tenant  *simulator.Options
	options []option
	// inject queues the fault on the tenant.
	inject func(h *harness)
	// reason is the reason the refresh must fail with; "" when the fault must
	// be survived, the new export served whole.
	reason string
	// logged are parts of the error line the failed refresh must log.
	logged []string
	// check asserts metrics particular to the fault, after the faulted refresh.
	check func(h *harness)
}

// runFault checks one fault end to end. A survived fault leaves the new export
// served exactly; any other leaves the last good snapshot served unchanged, is
// counted under its reason and logged at error level with where it happened,
// and the refresh after it serves the new export.
func runFault(t *testing.T, fc faultCase) {
	t.Parallel()
	tenant := faultTenant
	if fc.tenant != nil {
		tenant = *fc.tenant
	}
	options := append([]option{withClient(func(c *client.Config) { c.PageSize = faultPageSize })}, fc.options...)
	h := newHarness(t, tenant, fc.mode, options...)
	h.mustRefresh()
	good := h.tenant.Expected()
	goodAt := h.metric("mde_exporter_last_refresh_success_timestamp_seconds")
	next := h.newExport()

	fc.inject(h)
	err := h.refresh()
	if fc.check != nil {
		defer fc.check(h)
	}

	if fc.reason == "" {
		if err != nil {
			t.Fatalf("refresh failed: %v", err)
		}
		h.serves(next)
		h.want(map[string]float64{"mde_exporter_refresh_success": 1})
		return
	}

	if err == nil {
		t.Fatalf("refresh succeeded, want it to fail with reason %s", fc.reason)
	}
	if got := client.Reason(err); got != fc.reason {
		t.Errorf("refresh failed with reason %q, want %q: %v", got, fc.reason, err)
	}
	h.serves(good)
	h.want(map[string]float64{
		"mde_exporter_refresh_success":                                             0,
		"mde_exporter_last_refresh_success_timestamp_seconds":                      goodAt,
		fmt.Sprintf(`mde_exporter_refresh_failures_total{reason="%s"}`, fc.reason): 1,
	})
	h.wantLogged(append([]string{"level=error", "refresh failed, still serving the last good snapshot",
		"reason=" + fc.reason}, fc.logged...)...)

	h.mustRefresh()
	h.serves(next)
	h.want(map[string]float64{"mde_exporter_refresh_success": 1})
}

func TestThrottling(t *testing.T) {
	for _, fc := range []faultCase{
		{
			name:   "429 per minute on the export list is waited for",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { h.tenant.Inject(simulator.Throttle(simulator.EndpointExport, time.Second, false)) },
			check: func(h *harness) {
				h.want(map[string]float64{
					`mde_exporter_api_throttled_total{endpoint="baseline_export"}`:              1,
					`mde_exporter_api_throttled_wait_seconds_total{endpoint="baseline_export"}`: 1,
					`mde_exporter_api_retries_total{endpoint="baseline_export"}`:                1,
				})
			},
		},
		{
			name: "429 per minute on a page, error.code \"429\", is waited for",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				f := simulator.Throttle(simulator.EndpointAssessments, time.Second, false)
				f.Skip = 3
				h.tenant.Inject(f)
			},
			check: func(h *harness) {
				h.want(map[string]float64{
					`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="429"}`:    1,
					`mde_exporter_api_throttled_wait_seconds_total{endpoint="baseline_assessments"}`: 1,
				})
			},
		},
		{
			name: "429 per hour past the refresh deadline fails at once",
			mode: collector.ModeJSON,
			options: []option{withRefresh(func(c *collector.Config) {
				c.Timeout = 20 * time.Second
			})},
			inject: func(h *harness) {
				f := simulator.Throttle(simulator.EndpointAssessments, 40*time.Minute, true)
				f.Skip = 1
				h.tenant.Inject(f)
			},
			reason: "throttled",
			logged: []string{"assessment page 2", "retry after 40m0s would pass the deadline", "per 01:00:00"},
			check: func(h *harness) {
				if d := h.metric("mde_exporter_refresh_duration_seconds"); d > 5 {
					t.Errorf("the refresh took %vs; a wait past the deadline must fail at once", d)
				}
				h.want(map[string]float64{`mde_exporter_api_throttled_wait_seconds_total{endpoint="baseline_assessments"}`: 0})
			},
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

func TestServerErrorsAndResets(t *testing.T) {
	reset := func(endpoint string, skip int) func(h *harness) {
		return func(h *harness) {
			h.tenant.Inject(simulator.Fault{Endpoint: endpoint, Skip: skip, ResetConnection: true})
		}
	}
	// expireToken makes the tenant refuse the cached access token, so that the
	// refresh asks the token endpoint again.
	expireToken := func(f simulator.Fault) func(h *harness) {
		return func(h *harness) {
			h.clock.Advance(2 * time.Hour)
			h.tenant.Inject(f)
		}
	}

	for _, fc := range []faultCase{
		{
			name:   "500 on the export list is retried",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { h.tenant.Inject(simulator.ServerError(simulator.EndpointExport)) },
			check: func(h *harness) {
				h.want(map[string]float64{
					`mde_exporter_api_requests_total{endpoint="baseline_export",code="500"}`: 1,
					`mde_exporter_api_retries_total{endpoint="baseline_export"}`:             1,
				})
			},
		},
		{
			name: "503 on a page is retried",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				f := simulator.ServerError(simulator.EndpointAssessments)
				f.Status, f.Skip = http.StatusServiceUnavailable, 2
				h.tenant.Inject(f)
			},
			check: func(h *harness) {
				h.want(map[string]float64{`mde_exporter_api_retries_total{endpoint="baseline_assessments"}`: 1})
			},
		},
		{
			// Go's transport itself sends a GET again when a reused connection
			// is reset before any answer; the tenant sees it.
			name:   "a connection reset on a page is retried",
			mode:   collector.ModeJSON,
			inject: reset(simulator.EndpointAssessments, 4),
			check: func(h *harness) {
				pages := (h.tenant.Expected().Records + faultPageSize - 1) / faultPageSize
				if n := h.tenant.Requests(simulator.EndpointAssessments); n != 2*pages+1 {
					t.Errorf("the tenant saw %d page requests, want %d: two runs and the reset one", n, 2*pages+1)
				}
			},
		},
		{
			name:   "a connection reset on the export list is retried",
			mode:   collector.ModeFiles,
			inject: reset(simulator.EndpointExport, 0),
		},
		{
			name:   "500 on the token endpoint is retried",
			mode:   collector.ModeFiles,
			inject: expireToken(simulator.ServerError(simulator.EndpointToken)),
			check: func(h *harness) {
				h.want(map[string]float64{
					"mde_exporter_token_failures_total":                1,
					`mde_exporter_api_retries_total{endpoint="token"}`: 1,
				})
			},
		},
		{
			name:   "a connection reset on the token endpoint is retried",
			mode:   collector.ModeJSON,
			inject: expireToken(simulator.Fault{Endpoint: simulator.EndpointToken, ResetConnection: true}),
			check: func(h *harness) {
				h.want(map[string]float64{`mde_exporter_api_requests_total{endpoint="token",code="error"}`: 1})
			},
		},
		{
			name: "a download cut midway is read again, its records counted once",
			mode: collector.ModeFiles,
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, TruncateAfter: 1500})
			},
			check: func(h *harness) {
				h.want(map[string]float64{`mde_exporter_api_retries_total{endpoint="export_file"}`: 1})
			},
		},
		{
			name:   "500 from blob storage is retried",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { h.tenant.Inject(simulator.ServerError(simulator.EndpointExportFile)) },
		},
		{
			name: "5xx past the retries fails",
			mode: collector.ModeFiles,
			inject: func(h *harness) {
				f := simulator.ServerError(simulator.EndpointExport)
				f.Times = 3
				h.tenant.Inject(f)
			},
			reason: "http",
			logged: []string{"list export files", "giving up after 2 retries", "InternalServerError"},
		},
		{
			name: "a page cut midway fails rather than count its records twice",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointAssessments, Skip: 1, TruncateAfter: 3000})
			},
			reason: "http",
			logged: []string{"assessment page 2"},
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

// TestTokenExpiresDuringPagination: the tenant's clock jumps two hours after
// the first page, so the access token is refused. The client renews it and asks
// for the same page again: no page is read twice, the run does not start over.
func TestTokenExpiresDuringPagination(t *testing.T) {
	t.Parallel()
	hook, source := withHook(func(h *harness, received int64) {
		if received == faultPageSize {
			h.clock.Advance(2 * time.Hour)
		}
	})
	h := newHarness(t, faultTenant, collector.ModeJSON, hook, withClient(func(c *client.Config) { c.PageSize = faultPageSize }))
	expected := h.tenant.Expected()
	pages := float64((expected.Records + faultPageSize - 1) / faultPageSize)

	source.arm()
	h.mustRefresh()

	h.serves(expected)
	h.want(map[string]float64{
		`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="401"}`: 1,
		`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="200"}`: pages,
		`mde_exporter_api_requests_total{endpoint="token",code="200"}`:                2,
		"mde_exporter_records_processed_total":                                        float64(expected.Records),
	})
}

// TestTokenAndDownloadURLsExpireDuringDownload: two hours pass after the first
// export file, so the other files' URLs have expired and so has the token that
// asks for fresh ones. The token is renewed, the URLs are renewed once, and
// every record is counted once.
func TestTokenAndDownloadURLsExpireDuringDownload(t *testing.T) {
	t.Parallel()
	hook, source := withHook(func(h *harness, received int64) {
		if received == 1 {
			h.clock.Advance(2 * time.Hour)
		}
	})
	h := newHarness(t, faultTenant, collector.ModeFiles, hook, withClient(func(c *client.Config) { c.DownloadWorkers = 1 }))
	expected := h.tenant.Expected()

	source.arm()
	h.mustRefresh()

	h.serves(expected)
	h.want(map[string]float64{
		"mde_exporter_sas_url_refreshes_total":                                   1,
		`mde_exporter_api_requests_total{endpoint="baseline_export",code="401"}`: 1,
		`mde_exporter_api_requests_total{endpoint="baseline_export",code="200"}`: 2,
		`mde_exporter_api_requests_total{endpoint="token",code="200"}`:           2,
		"mde_exporter_records_processed_total":                                   float64(expected.Records),
	})
	if n := h.metric(`mde_exporter_api_requests_total{endpoint="export_file",code="403"}`); n < 1 {
		t.Errorf("no download was refused as expired (%v): the test did not expire the URLs", n)
	}
}

func TestExpiredDownloadURLs(t *testing.T) {
	// One export file, so that a fault for two downloads hits it twice.
	oneFile := faultTenant
	oneFile.RbacGroups, oneFile.PartRecords = 1, 10_000

	for _, fc := range []faultCase{
		{
			name:   "an expired URL is renewed once",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { h.tenant.Inject(simulator.SASExpired()) },
			check: func(h *harness) {
				h.want(map[string]float64{
					"mde_exporter_sas_url_refreshes_total":                                   1,
					`mde_exporter_api_requests_total{endpoint="export_file",code="403"}`:     1,
					`mde_exporter_api_requests_total{endpoint="baseline_export",code="200"}`: 3,
				})
			},
		},
		{
			name:   "a URL refused again after its renewal fails the refresh",
			mode:   collector.ModeFiles,
			tenant: &oneFile,
			inject: func(h *harness) {
				f := simulator.SASExpired()
				f.Times = 2
				h.tenant.Inject(f)
			},
			reason: "export",
			logged: []string{"refused again right after their URLs were renewed", "part-0", "sig=REDACTED", "AuthenticationFailed"},
			check: func(h *harness) {
				h.want(map[string]float64{
					"mde_exporter_sas_url_refreshes_total":                                   1,
					`mde_exporter_api_requests_total{endpoint="baseline_export",code="200"}`: 4,
				})
				h.wantLogged("level=warn", "export file URLs expired, asking for fresh ones")
			},
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

// Records in the JSON API's shape, for pages a test serves itself.
const (
	testProfileID = "9e1b90be-6c49-4d4c-8c49-4a429412e734"
	assessedAt    = "2025-03-14T04:12:08.478Z"
)

// apiRecord is one camelCase record of a JSON page.
func apiRecord(device int, configuration string, applicable, compliant bool) string {
	id := fmt.Sprintf("4f1a9c0e27d3b6a85f2e%020x", 0x7c41d09b3e+device)
	return fmt.Sprintf(`{"id":"%s_%s_%s","configurationId":%q,"deviceId":%q,"deviceName":"ws-%04d.contoso.com",`+
		`"profileId":%q,"osPlatform":"Windows11","osVersion":"10.0.22631.3447","rbacGroupId":86,"rbacGroupName":"Workstations",`+
		`"isApplicable":%t,"isCompliant":%t,"dataCollectionTimeOffset":%q,"recommendedValue":["Enabled"],"currentValue":["Enabled"],`+
		`"source":["hkey_local_machine\\software\\policies\\microsoft\\windows\\system\\enablesmartscreen"]}`,
		id, testProfileID, configuration, configuration, id, device, testProfileID, applicable, compliant, assessedAt)
}

// page is a JSON API page of records, with nextLink when it is not "".
func page(records []string, nextLink string) string {
	body := `{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)",` +
		`"value":[` + strings.Join(records, ",") + `]`
	if nextLink != "" {
		body += `,"@odata.nextLink":` + fmt.Sprintf("%q", nextLink)
	}
	return body + "}"
}

// nextLink is a nextLink of the tenant's API with the given skip token.
func nextLink(h *harness, token string) string {
	return h.tenant.APIURL() + "/api/machines/BaselineComplianceAssessmentByMachine?pagesize=100&$skiptoken=" + token
}

// servePages makes the next requests for assessment pages answer bodies.
func servePages(h *harness, bodies ...string) {
	for _, body := range bodies {
		h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointAssessments, Status: http.StatusOK, Body: body})
	}
}

func TestPaginationWithoutProgress(t *testing.T) {
	recordsA := []string{apiRecord(1, "1.1.1", true, true), apiRecord(2, "1.1.1", true, false), apiRecord(3, "1.1.1", false, false)}
	recordsB := []string{apiRecord(4, "1.1.1", true, true), apiRecord(5, "1.1.1", true, true)}

	rotateAt := func(pages ...int64) func(h *harness, received int64) {
		return func(h *harness, received int64) {
			for _, p := range pages {
				if received == p*faultPageSize {
					h.tenant.Rotate()
				}
			}
		}
	}
	rotateOnce, onceSource := withHook(rotateAt(2))
	rotateTwice, twiceSource := withHook(rotateAt(2, 4))

	for _, fc := range []faultCase{
		{
			name: "a nextLink followed before fails",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				servePages(h, page(recordsA, nextLink(h, "c2tpcC0x")), page(recordsB, nextLink(h, "c2tpcC0x")))
			},
			reason: "pagination",
			logged: []string{"was already followed: the pagination loops", "skiptoken=REDACTED"},
		},
		{
			name: "a page repeating an earlier one under a new nextLink fails",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				servePages(h, page(recordsA, nextLink(h, "c2tpcC0x")), page(recordsA, nextLink(h, "c2tpcC0y")))
			},
			reason: "pagination",
			logged: []string{"page 2 repeats the 3 records of page 1: the pagination makes no progress"},
		},
		{
			name:    "a snapshot rotated during the pagination restarts it once",
			mode:    collector.ModeJSON,
			options: []option{rotateOnce},
			inject:  func(*harness) { onceSource.arm() },
			check: func(h *harness) {
				onceSource.armed.Store(false)
				h.want(map[string]float64{`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="400"}`: 1})
				h.wantLogged("level=warn", "nextLink refused, reading the assessment again from the first page", "pages_dropped=2")
			},
		},
		{
			name:    "a snapshot rotated again during the restart fails",
			mode:    collector.ModeJSON,
			options: []option{rotateTwice},
			inject:  func(*harness) { twiceSource.arm() },
			reason:  "pagination",
			logged:  []string{"page 3", "pagination cursor rejected", "no longer available"},
			check:   func(*harness) { twiceSource.armed.Store(false) },
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

// TestPageLimit: a tenant with more pages than --mde.max-pages allows never
// loads, and says why.
func TestPageLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faultTenant, collector.ModeJSON, withClient(func(c *client.Config) {
		c.PageSize, c.MaxPages = faultPageSize, 3
	}))

	if err := h.refresh(); client.Reason(err) != "pagination" {
		t.Fatalf("refresh: %v (reason %q), want reason pagination", err, client.Reason(err))
	}
	h.want(map[string]float64{
		"mde_exporter_snapshot_loaded":                                                0,
		"mde_exporter_refresh_success":                                                0,
		`mde_exporter_refresh_failures_total{reason="pagination"}`:                    1,
		`mde_exporter_api_requests_total{endpoint="baseline_assessments",code="200"}`: 3,
	})
	h.wantAbsent("mde_exporter_last_refresh_success_timestamp_seconds", "mde_baseline_devices")
	h.wantLogged("level=error", "more than 3 pages")
}

func TestCorruptData(t *testing.T) {
	line := func(device int, configuration string) string {
		return strings.Replace(apiRecord(device, configuration, true, true), `"deviceId"`, `"DeviceId"`, 1)
	}
	serveFile := func(body string) func(h *harness) {
		return func(h *harness) {
			h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, Status: http.StatusOK, Body: body,
				Header: http.Header{"Content-Type": {"application/octet-stream"}}})
		}
	}
	validFile := func(t *testing.T) string {
		return gzipText(t, line(1, "1.1.1")+"\n"+line(2, "1.1.1")+"\n"+line(3, "1.1.2")+"\n")
	}
	limits := withClient(func(c *client.Config) {
		c.MaxLineBytes, c.MaxFileBytes = 4096, 1<<20
	})

	for _, fc := range []faultCase{
		{
			name:   "a file that is not gzip",
			mode:   collector.ModeFiles,
			inject: serveFile("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xffthis is no deflate stream"),
			reason: "decode",
			logged: []string{"part-0", "sig=REDACTED", "decoding the"},
		},
		{
			name:   "a truncated gzip file",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { f := validFile(t); serveFile(f[:len(f)/2])(h) },
			reason: "decode",
			logged: []string{"part-0", "unexpected EOF"},
		},
		{
			name:   "a line that is not JSON",
			mode:   collector.ModeFiles,
			inject: func(h *harness) { serveFile(gzipText(t, line(1, "1.1.1")+"\n{\"DeviceId\": oops}\n"))(h) },
			reason: "decode",
			logged: []string{"part-0", "line 2"},
		},
		{
			name:    "a line over the size limit",
			mode:    collector.ModeFiles,
			options: []option{limits},
			inject:  func(h *harness) { serveFile(gzipText(t, line(1, strings.Repeat("9", 5000))+"\n"))(h) },
			reason:  "decode",
			logged:  []string{"part-0", "line 1", "line too long"},
		},
		{
			name:    "a file decompressing past the size limit (gzip bomb)",
			mode:    collector.ModeFiles,
			options: []option{limits},
			inject:  func(h *harness) { serveFile(gzipText(t, strings.Repeat("\n", 8<<20)))(h) },
			reason:  "decode",
			logged:  []string{"part-0", "decompresses to more than 1048576 bytes"},
		},
		{
			name:   "an empty page",
			mode:   collector.ModeJSON,
			inject: func(h *harness) { servePages(h, "") },
			reason: "decode",
			logged: []string{"assessment page 1"},
		},
		{
			name: "a page that is an HTML error page",
			mode: collector.ModeJSON,
			inject: func(h *harness) {
				servePages(h, page([]string{apiRecord(1, "1.1.1", true, true)}, nextLink(h, "eA")), "<html>")
			},
			reason: "decode",
			logged: []string{"assessment page 2"},
		},
		{
			name: "an empty export list",
			mode: collector.ModeFiles,
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExport, Status: http.StatusOK})
			},
			reason: "decode",
			logged: []string{"export file list"},
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

func TestSlowServers(t *testing.T) {
	quickTimeout := withClient(func(c *client.Config) { c.RequestTimeout = time.Second })

	for _, fc := range []faultCase{
		{
			name:    "an answer slower than the request timeout is asked for again",
			mode:    collector.ModeFiles,
			options: []option{quickTimeout},
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExport, Delay: 10 * time.Second})
			},
			check: func(h *harness) {
				h.want(map[string]float64{`mde_exporter_api_requests_total{endpoint="baseline_export",code="error"}`: 1})
			},
		},
		{
			name:    "answers that stay slower than the request timeout fail",
			mode:    collector.ModeFiles,
			options: []option{quickTimeout},
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExport, Delay: 10 * time.Second, Times: 3})
			},
			reason: "timeout",
			logged: []string{"no complete answer within 1s"},
		},
		{
			name:    "a hung server ends the refresh at its deadline",
			mode:    collector.ModeJSON,
			options: []option{withRefresh(func(c *collector.Config) { c.Timeout = 2 * time.Second })},
			inject: func(h *harness) {
				h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointAssessments, Skip: 1, Delay: time.Minute})
			},
			reason: "timeout",
			logged: []string{"assessment page 2", "context deadline exceeded"},
			check: func(h *harness) {
				if d := h.metric("mde_exporter_refresh_duration_seconds"); d > 5 {
					t.Errorf("the refresh took %vs, want it ended at its 2s deadline", d)
				}
			},
		},
	} {
		t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
	}
}

func TestOutboundURLs(t *testing.T) {
	t.Run("download URLs over plain http are refused", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, faultTenant, collector.ModeFiles, withClient(func(c *client.Config) { c.AllowHTTP = false }))

		if err := h.refresh(); client.Reason(err) != "export" {
			t.Fatalf("refresh: %v (reason %q), want reason export", err, client.Reason(err))
		}
		if n := h.tenant.Requests(simulator.EndpointExportFile); n != 0 {
			t.Errorf("%d downloads over http", n)
		}
		h.want(map[string]float64{`mde_exporter_refresh_failures_total{reason="export"}`: 1, "mde_exporter_snapshot_loaded": 0})
		h.wantLogged("level=error", "only https URLs are followed", "sig=REDACTED")
	})

	fc := faultCase{
		name:    "a redirect loop from blob storage stops after 3 redirects",
		mode:    collector.ModeFiles,
		options: []option{withClient(func(c *client.Config) { c.DownloadWorkers = 1 })},
		inject: func(h *harness) {
			h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, Status: http.StatusFound, Times: 4,
				Header: http.Header{"Location": {h.tenant.BlobURL() + "/moved?sig=c2VjcmV0"}}})
		},
		reason: "http",
		logged: []string{"redirect refused: more than 3 redirects"},
		check: func(h *harness) {
			h.want(map[string]float64{`mde_exporter_api_requests_total{endpoint="export_file",code="302"}`: 4})
			if strings.Contains(h.logs.String(), "c2VjcmV0") {
				t.Error("the log shows the signature of a redirect's Location")
			}
		},
	}
	t.Run(fc.name, func(t *testing.T) { runFault(t, fc) })
}

// TestMalformedRecordPolicy: a record that is valid JSON but lacks a key no
// series can do without (here profileId) is skipped and counted; the refresh
// succeeds with the other records. A record that is not JSON fails the whole
// refresh instead (TestCorruptData): what follows it cannot be trusted.
func TestMalformedRecordPolicy(t *testing.T) {
	noProfile := strings.Replace(apiRecord(3, "1.1.1", true, false), `"profileId":"`+testProfileID+`",`, "", 1)
	records := []string{apiRecord(1, "1.1.1", true, true), noProfile, apiRecord(2, "1.1.1", true, false)}
	want := map[string]float64{
		`mde_exporter_records_skipped_total{reason="missing_key"}`:              1,
		"mde_exporter_records_processed_total":                                  2,
		"mde_exporter_snapshot_records":                                         2,
		"mde_exporter_refresh_success":                                          1,
		`mde_baseline_devices{configuration_id="1.1.1",status="compliant"}`:     1,
		`mde_baseline_devices{configuration_id="1.1.1",status="non_compliant"}`: 1,
	}

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, faultTenant, collector.ModeJSON)
		servePages(h, page(records, ""))
		h.mustRefresh()
		h.want(want)
	})

	t.Run("files", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, simulator.Options{Seed: 3, Devices: -1, EmptyParts: 1}, collector.ModeFiles)
		lines := pascalCase(records[0]) + "\n" + pascalCase(records[1]) + "\n" + pascalCase(records[2]) + "\n"
		h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, Status: http.StatusOK, Body: gzipText(t, lines)})
		h.mustRefresh()
		h.want(want)
		h.wantLogged("level=debug", "export file read", "records=2", "skipped=1")
	})
}

// TestByteOrderMarks: a UTF-8 byte order mark before a JSON answer or at the
// start of an export file's text is ignored.
func TestByteOrderMarks(t *testing.T) {
	records := []string{apiRecord(1, "1.1.1", true, true), apiRecord(2, "1.1.1", false, false)}
	want := map[string]float64{"mde_exporter_snapshot_records": 2, "mde_exporter_refresh_success": 1}

	t.Run("json page", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, faultTenant, collector.ModeJSON)
		servePages(h, "\ufeff"+page(records, ""))
		h.mustRefresh()
		h.want(want)
	})

	t.Run("export file", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, simulator.Options{Seed: 3, Devices: -1, EmptyParts: 1}, collector.ModeFiles)
		lines := "\ufeff" + pascalCase(records[0]) + "\r\n" + pascalCase(records[1]) + "\r\n"
		h.tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExportFile, Status: http.StatusOK, Body: gzipText(t, lines)})
		h.mustRefresh()
		h.want(want)
	})
}
