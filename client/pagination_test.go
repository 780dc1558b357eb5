package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const assessmentsRoute = "GET /api/machines/BaselineComplianceAssessmentByMachine"

// skiptoken is the cursor the service puts in a nextLink: base64 of JSON naming
// the snapshot, the file and the line.
func skiptoken(line int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil,
		`{"ExportDefinition":{"TimePath":"2025-03-14/0500/"},"ExportFileIndex":0,"LineStoppedAt":%d}`, line))
}

// nextLinkAt returns the nextLink of the page after line, as the service writes it:
// absolute, on the API host, lower-case pagesize.
func nextLinkAt(server *httptest.Server, line int) string {
	return server.URL + "/api/machines/BaselineComplianceAssessmentByMachine?pagesize=1000&$skiptoken=" + skiptoken(line)
}

// K04: a page answered 429 is fetched again after Retry-After, never skipped: the
// totals match the tenant's 2000 rows exactly.
func TestThrottledPageIsFetchedAgain(t *testing.T) {
	tenant := newFakeTenant(t)
	var (
		mu           sync.Mutex
		secondPageAt []string
	)
	tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skiptoken") == "" {
			fmt.Fprint(w, assessmentPage(tenant.server.URL, 0, 1000, strconv.Quote(nextLinkAt(tenant.server, 1000))))
			return
		}

		mu.Lock()
		secondPageAt = append(secondPageAt, r.URL.RequestURI())
		attempt := len(secondPageAt)
		mu.Unlock()

		if attempt == 1 {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, throttledBody)
			return
		}
		fmt.Fprint(w, assessmentPage(tenant.server.URL, 1000, 1000, ""))
	})

	c, _ := newTestClient(t, tenant, func(cfg *Config) { cfg.PageSize = 1000 })
	sink := &recordingSink{}
	stats, err := c.BaselineAssessments(context.Background(), sink)
	if err != nil {
		t.Fatalf("BaselineAssessments: %v", err)
	}

	if sink.records != 2000 || len(sink.devices) != 2000 || sink.committed != 1 {
		t.Errorf("committed %d records of %d devices in %d parts, want 2000 of 2000 in 1", sink.records, len(sink.devices), sink.committed)
	}
	if stats.Records != 2000 || stats.Pages != 2 {
		t.Errorf("stats = %+v, want 2000 records in 2 pages", stats)
	}

	want := "/api/machines/BaselineComplianceAssessmentByMachine?pagesize=1000&$skiptoken=" + skiptoken(1000)
	if len(secondPageAt) != 2 || secondPageAt[0] != want || secondPageAt[1] != want {
		t.Errorf("second page requested as %q, want twice the verbatim nextLink %q", secondPageAt, want)
	}
	if got := testutil.ToFloat64(c.metrics.throttledWait.WithLabelValues("baseline_assessments")); got != 5 {
		t.Errorf("mde_exporter_api_throttled_wait_seconds_total = %v, want 5", got)
	}
	if got := requests(c, EndpointAssessments, "429"); got != 1 {
		t.Errorf(`mde_exporter_api_requests_total{code="429"} = %v, want 1`, got)
	}
}

// K10: the last page ends the pagination whether its nextLink is absent or null.
func TestLastPageEndsPagination(t *testing.T) {
	tests := map[string]string{
		"nextLink absent": "",
		"nextLink null":   "null",
	}

	for name, lastNextLink := range tests {
		t.Run(name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("pageSize") != "" {
					fmt.Fprint(w, assessmentPage(tenant.server.URL, 0, 3, strconv.Quote(nextLinkAt(tenant.server, 3))))
					return
				}
				fmt.Fprint(w, assessmentPage(tenant.server.URL, 3, 2, lastNextLink))
			})

			c, _ := newTestClient(t, tenant)
			sink := &recordingSink{}
			stats, err := c.BaselineAssessments(context.Background(), sink)
			if err != nil {
				t.Fatalf("BaselineAssessments: %v", err)
			}
			if sink.records != 5 || stats.Pages != 2 || stats.Parts != 1 {
				t.Errorf("committed %d records, stats %+v; want 5 records in 2 pages, 1 part", sink.records, stats)
			}
		})
	}
}

// The first request names pageSize; later ones follow the nextLink as given.
func TestFirstPageRequest(t *testing.T) {
	tenant := newFakeTenant(t)
	var query string
	tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RawQuery
		fmt.Fprint(w, `{"value":[]}`)
	})

	c, _ := newTestClient(t, tenant)
	if _, err := c.BaselineAssessments(context.Background(), &recordingSink{}); err != nil {
		t.Fatal(err)
	}
	if query != "pageSize=50000" {
		t.Errorf("first page query = %q, want pageSize=50000", query)
	}
}

// Unsafe nextLinks end the run with reason pagination and commit nothing: the
// bearer token never goes to another host, a loop is not followed, and the number
// of pages is bounded.
func TestUnsafeNextLinkRefused(t *testing.T) {
	var foreignCalls atomic.Int32
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignCalls.Add(1)
	}))
	defer foreign.Close()

	tests := []struct {
		name     string
		nextLink func(api *httptest.Server, page int) string
		maxPages int
	}{
		{"another host", func(_ *httptest.Server, _ int) string {
			return foreign.URL + "/api/machines/BaselineComplianceAssessmentByMachine?pagesize=1000&$skiptoken=" + skiptoken(1000)
		}, 0},
		{"same host, other scheme", func(api *httptest.Server, _ int) string {
			return "https" + api.URL[len("http"):] + "/api/machines/BaselineComplianceAssessmentByMachine?$skiptoken=" + skiptoken(1000)
		}, 0},
		{"nextLink seen before", func(api *httptest.Server, _ int) string { return nextLinkAt(api, 1000) }, 0},
		{"more pages than allowed", func(api *httptest.Server, page int) string { return nextLinkAt(api, page*1000) }, 3},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			var page atomic.Int32
			tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
				n := int(page.Add(1))
				fmt.Fprint(w, assessmentPage(tenant.server.URL, n*10, 10, strconv.Quote(tt.nextLink(tenant.server, n))))
			})

			c, _ := newTestClient(t, tenant, func(cfg *Config) { cfg.MaxPages = tt.maxPages })
			sink := &recordingSink{}
			_, err := c.BaselineAssessments(context.Background(), sink)

			if Reason(err) != "pagination" {
				t.Fatalf("err = %v (reason %q), want pagination", err, Reason(err))
			}
			if sink.committed != 0 {
				t.Errorf("committed %d parts of a refused run", sink.committed)
			}
			if foreignCalls.Load() != 0 {
				t.Error("a request went to the foreign host")
			}
		})
	}
}

// A nextLink refused with 400 after the first page (the snapshot rotated) drops the
// part and starts over once; a second refusal ends the run.
func TestExpiredCursorRestartsOnce(t *testing.T) {
	tests := []struct {
		name         string
		refusals     int32
		wantErr      bool
		wantRecords  int64
		wantFirstGet int32
	}{
		{"snapshot rotated once", 1, false, 4, 2},
		{"cursor keeps failing", 2, true, 0, 2},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			var firstPages, refusals atomic.Int32
			tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("$skiptoken") == "" {
					firstPages.Add(1)
					fmt.Fprint(w, assessmentPage(tenant.server.URL, 0, 2, strconv.Quote(nextLinkAt(tenant.server, 2))))
					return
				}
				if refusals.Add(1) <= tt.refusals {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprint(w, `{"error":{"code":"InvalidInput","message":"Invalid skip token","target":"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"}}`)
					return
				}
				fmt.Fprint(w, assessmentPage(tenant.server.URL, 2, 2, ""))
			})

			c, _ := newTestClient(t, tenant)
			sink := &recordingSink{}
			_, err := c.BaselineAssessments(context.Background(), sink)

			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && Reason(err) != "pagination" {
				t.Errorf("Reason = %q, want pagination", Reason(err))
			}
			if sink.records != tt.wantRecords || sink.begun != 2 {
				t.Errorf("committed %d records, began %d parts; want %d records, 2 parts", sink.records, sink.begun, tt.wantRecords)
			}
			if firstPages.Load() != tt.wantFirstGet {
				t.Errorf("first page fetched %d times, want %d", firstPages.Load(), tt.wantFirstGet)
			}
		})
	}
}

// A 400 on the very first page is a plain request error, not a stale cursor.
func TestBadRequestOnFirstPageIsNotRetried(t *testing.T) {
	tenant := newFakeTenant(t)
	var calls atomic.Int32
	tenant.handleAPI(t, assessmentsRoute, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":{"code":"InvalidInput","message":"pageSize must be between 1 and 200000"}}`)
	})

	c, _ := newTestClient(t, tenant)
	_, err := c.BaselineAssessments(context.Background(), &recordingSink{})
	if Reason(err) != "http" || calls.Load() != 1 {
		t.Errorf("err = %v (reason %q) after %d calls, want http after 1", err, Reason(err), calls.Load())
	}
}
