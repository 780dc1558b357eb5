package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const throttledBody = `{"error":{"code":"429","message":"API calls quota exceeded! maximum allowed 30 per 00:01:00","target":"5c1f7d2e-8a4b-4c3d-9e6f-1a2b3c4d5e6f"}}`

// K03: throttling is decided by the status, whatever error.code says. A wait that
// fits the deadline is waited as told; one that passes it fails at once.
func TestThrottledRequest(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		deadline   time.Duration
		wantErr    bool
		wantWait   float64
	}{
		{"minute quota, refresh has time", "37", 10 * time.Minute, false, 37},
		{"minute quota, past the refresh deadline", "37", 30 * time.Second, true, 0},
		{"hourly quota, past the refresh deadline", "2400", 25 * time.Minute, true, 0},
		{"http date", time.Date(2025, 3, 14, 9, 0, 20, 0, time.UTC).Format(http.TimeFormat), 10 * time.Minute, false, 20},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			var calls atomic.Int32
			tenant.handleAPI(t, "GET /api/baselineProfiles", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.retryAfter)
					w.WriteHeader(http.StatusTooManyRequests)
					fmt.Fprint(w, throttledBody)
					return
				}
				fmt.Fprint(w, `{"value":[{"id":"02bcbb9d-d197-479e-811e-1cd5a6f9f8fa","name":"Windows 10 build 1909 CIS profile"}]}`)
			})

			c, clock := newTestClient(t, tenant)
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()

			start := time.Now()
			profiles, err := c.BaselineProfiles(ctx)

			if tt.wantErr {
				if got := Reason(err); got != "throttled" {
					t.Fatalf("err = %v with reason %q, want throttled", err, got)
				}
				if elapsed := time.Since(start); elapsed > time.Second {
					t.Errorf("failed after %v, want at once", elapsed)
				}
				if calls.Load() != 1 {
					t.Errorf("API calls = %d, want 1", calls.Load())
				}
			} else if err != nil || len(profiles) != 1 {
				t.Fatalf("BaselineProfiles = %d profiles, %v; want 1 profile", len(profiles), err)
			}

			if got := testutil.ToFloat64(c.metrics.throttled.WithLabelValues("baseline_profiles")); got != 1 {
				t.Errorf("mde_exporter_api_throttled_total = %v, want 1", got)
			}
			if got := testutil.ToFloat64(c.metrics.throttledWait.WithLabelValues("baseline_profiles")); got != tt.wantWait {
				t.Errorf("mde_exporter_api_throttled_wait_seconds_total = %v, want %v", got, tt.wantWait)
			}
			if got := clock.Slept().Seconds(); got != tt.wantWait {
				t.Errorf("slept %vs, want %vs", got, tt.wantWait)
			}
		})
	}
}

// K03: the status decides, not error.code: a 429 whose body says
// "TooManyRequests" is waited like one that says "429", and a 400 whose body
// says "429" is a plain client error, neither waited nor retried.
func TestK03ThrottlingIsDecidedByStatus(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		code          string
		wantReason    string
		wantThrottled float64
		wantCalls     int32
	}{
		{"429 with TooManyRequests", http.StatusTooManyRequests, "TooManyRequests", "", 1, 2},
		{"429 with code 429", http.StatusTooManyRequests, "429", "", 1, 2},
		{"400 with code 429", http.StatusBadRequest, "429", "http", 0, 1},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			var calls atomic.Int32
			tenant.handleAPI(t, "GET /api/baselineProfiles", func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", "3")
					w.WriteHeader(tt.status)
					fmt.Fprintf(w, `{"error":{"code":%q,"message":"API calls quota exceeded! maximum allowed 30 per 00:01:00","target":"|3f2a"}}`, tt.code)
					return
				}
				fmt.Fprint(w, `{"value":[]}`)
			})

			c, clock := newTestClient(t, tenant)
			_, err := c.BaselineProfiles(context.Background())

			if got := Reason(err); got != tt.wantReason {
				t.Errorf("reason = %q (err %v), want %q", got, err, tt.wantReason)
			}
			if got := testutil.ToFloat64(c.metrics.throttled.WithLabelValues("baseline_profiles")); got != tt.wantThrottled {
				t.Errorf("mde_exporter_api_throttled_total = %v, want %v", got, tt.wantThrottled)
			}
			if got, want := clock.Slept().Seconds(), 3*tt.wantThrottled; got != want {
				t.Errorf("waited %vs, want %vs", got, want)
			}
			if calls.Load() != tt.wantCalls {
				t.Errorf("API calls = %d, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

// K05: 5xx answers are retried with backoff within the call; past MaxRetries the
// call fails with reason http.
func TestServerErrorsAreRetried(t *testing.T) {
	failures := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
		func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"code":"InternalServerError","message":"An error has occurred","target":"e0c5a7f1-3b2d-4c6e-8f9a-0b1c2d3e4f5a"}}`)
		},
		func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) },
	}

	tests := []struct {
		name       string
		maxRetries int
		wantErr    bool
	}{
		{"recovers within the retries", 5, false},
		{"still failing after the retries", 1, true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			var calls atomic.Int32
			tenant.handleAPI(t, "GET /api/machines/BaselineComplianceAssessmentByMachine", func(w http.ResponseWriter, r *http.Request) {
				if n := int(calls.Add(1)); n <= len(failures) {
					failures[n-1](w)
					return
				}
				// A record whose arrays are null counts like any other.
				fmt.Fprint(w, `{"value":[{"deviceId":"`+deviceID(1)+`","profileId":"`+testProfile+`","configurationId":"2.3.1.1",`+
					`"rbacGroupName":"UnassignedGroup","osPlatform":"WindowsServer2022","isApplicable":true,"isCompliant":false,`+
					`"source":null,"currentValue":null,"recommendedValue":["Enabled"]}]}`)
			})

			c, clock := newTestClient(t, tenant, func(cfg *Config) { cfg.MaxRetries = tt.maxRetries })
			sink := &recordingSink{}
			stats, err := c.BaselineAssessments(context.Background(), sink)

			if tt.wantErr {
				if Reason(err) != "http" || !strings.Contains(err.Error(), "HTTP 500 InternalServerError") {
					t.Fatalf("err = %v (reason %q), want the 500's error after the retries", err, Reason(err))
				}
				if got := calls.Load(); got != int32(tt.maxRetries+1) {
					t.Errorf("API calls = %d, want %d", got, tt.maxRetries+1)
				}
				if sink.committed != 0 {
					t.Errorf("committed %d parts of a failed run", sink.committed)
				}
				return
			}

			if err != nil {
				t.Fatalf("BaselineAssessments: %v", err)
			}
			if stats.Records != 1 || sink.records != 1 || sink.committed != 1 {
				t.Errorf("records = %d, committed %d in %d parts; want 1 in 1", stats.Records, sink.records, sink.committed)
			}
			if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("baseline_assessments")); got != 3 {
				t.Errorf("mde_exporter_api_retries_total = %v, want 3", got)
			}
			for code, want := range map[string]float64{"503": 1, "500": 1, "502": 1, "200": 1} {
				if got := requests(c, EndpointAssessments, code); got != want {
					t.Errorf(`mde_exporter_api_requests_total{code="%s"} = %v, want %v`, code, got, want)
				}
			}
			if clock.Slept() < 2*time.Second {
				t.Errorf("backed off %v in total, want exponential waits from 1s", clock.Slept())
			}
		})
	}
}

// Other 4xx answers fail at once, with the service's code, message and target.
func TestClientErrorIsFinal(t *testing.T) {
	tenant := newFakeTenant(t)
	var calls atomic.Int32
	tenant.handleAPI(t, "GET /api/machines/BaselineComplianceAssessmentExport", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "\ufeff"+`{"error":{"code":"Forbidden","message":"The application does not have any of the required application permissions (SecurityBaselinesAssessment.Read.All) to access the resource.","target":"|3a7c1e2f.8b9d"}}`)
	})

	c, _ := newTestClient(t, tenant)
	_, err := c.BaselineExportFiles(context.Background())

	want := "baseline_export: HTTP 403 Forbidden: The application does not have any of the required application permissions " +
		"(SecurityBaselinesAssessment.Read.All) to access the resource. (target |3a7c1e2f.8b9d)"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if Reason(err) != "auth" {
		t.Errorf("Reason = %q, want auth", Reason(err))
	}
	if calls.Load() != 1 {
		t.Errorf("API calls = %d, want 1", calls.Load())
	}
}

// The client-side limiter spaces calls to the export endpoint (5/min): two go at
// once, the third waits its turn, and a wait past the deadline fails at once.
func TestRateLimiterPacesEndpoint(t *testing.T) {
	tenant := newFakeTenant(t)
	tenant.handleAPI(t, "GET /api/machines/BaselineComplianceAssessmentExport", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"exportFiles":[],"generatedTime":"2025-03-14T05:00:00Z"}`)
	})

	c, clock := newTestClient(t, tenant)
	ctx := context.Background()
	for range 3 {
		if _, err := c.BaselineExportFiles(ctx); err != nil {
			t.Fatalf("BaselineExportFiles: %v", err)
		}
	}

	// A burst of 2, then 3 more per minute: the third call waits 20s.
	if got := testutil.ToFloat64(c.metrics.rateLimiterWait.WithLabelValues("baseline_export")); got != 20 {
		t.Errorf("mde_exporter_rate_limiter_wait_seconds_total = %v, want 20", got)
	}

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.BaselineExportFiles(short); Reason(err) != "throttled" {
		t.Errorf("err = %v (reason %q), want throttled", err, Reason(err))
	}
	if clock.Slept() != 20*time.Second {
		t.Errorf("slept %v, want 20s", clock.Slept())
	}
	if got := requests(c, EndpointExport, "200"); got != 3 {
		t.Errorf("export requests = %v, want 3", got)
	}
}

// For a file download the request timeout bounds a stall of the body, not the
// whole transfer.
func TestDownloadTimeoutBoundsStalls(t *testing.T) {
	const timeout = 150 * time.Millisecond
	data := gzipLines(t, 0, 400)

	tests := []struct {
		name       string
		pause      time.Duration
		wantReason string
	}{
		{"slow but steady body", timeout / 3, ""},
		{"stalled body", 2 * timeout, "timeout"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			tenant.mux.HandleFunc("GET /blob/part-00000.json.gz", func(w http.ResponseWriter, r *http.Request) {
				chunk := len(data)/4 + 1
				for rest := data; len(rest) > 0; rest = rest[min(chunk, len(rest)):] {
					w.Write(rest[:min(chunk, len(rest))])
					w.(http.Flusher).Flush()
					select {
					case <-time.After(tt.pause):
					case <-r.Context().Done():
						return
					}
				}
			})

			c, _ := newTestClient(t, tenant, func(cfg *Config) {
				cfg.RequestTimeout = timeout
				cfg.MaxRetries = -1
			})
			files := ExportFiles{URLs: []string{tenant.server.URL + "/blob/part-00000.json.gz?sv=2019-12-12&sig=c2lnbmF0dXJl"}}
			stats, err := c.DownloadBaselineExport(context.Background(), files, &recordingSink{})

			if got := Reason(err); got != tt.wantReason {
				t.Fatalf("err = %v, reason %q; want reason %q", err, got, tt.wantReason)
			}
			if err == nil && stats.Records != 400 {
				t.Errorf("records = %d, want 400", stats.Records)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"37":                            37 * time.Second,
		" 2400 ":                        40 * time.Minute,
		"Fri, 14 Mar 2025 09:01:00 GMT": time.Minute,
		"Fri, 14 Mar 2025 08:59:00 GMT": 0,
		"-5":                            0,
		"soon":                          0,
		"":                              0,
	}

	for value, want := range tests {
		if got := parseRetryAfter(value, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", value, got, want)
		}
	}
}

func TestCheckRedirect(t *testing.T) {
	request := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	https := request("https://api.securitycenter.microsoft.com/api/baselineProfiles")

	tests := []struct {
		name    string
		next    *http.Request
		via     []*http.Request
		refused bool
	}{
		{"first https redirect", request("https://api-eu.securitycenter.microsoft.com/x"), []*http.Request{https}, false},
		{"third redirect", https, []*http.Request{https, https, https}, false},
		{"fourth redirect", https, []*http.Request{https, https, https, https}, true},
		{"downgrade to http", request("http://api.securitycenter.microsoft.com/x"), []*http.Request{https}, true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkRedirect(tt.next, tt.via); (err != nil) != tt.refused {
				t.Errorf("checkRedirect = %v, want refused %v", err, tt.refused)
			}
		})
	}
}
