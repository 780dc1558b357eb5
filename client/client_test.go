package client

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Values shaped like a real tenant's.
const (
	testTenantID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClientID = "3fa8d6c2-5b1e-4d8a-9c4f-0e7b2a1d6c93"
	testSecret   = "Qx8~kTz3vR.t5Wn2pLq7sY0dF4gH6jK_mB1cV9xZ"
	testScope    = "https://api.securitycenter.microsoft.com/.default"
	testProfile  = "9e1b90be-e83e-485b-a5ec-4a429412e734"
)

// fakeTenant is a login and API server on one httptest server. Tests add API
// handlers to mux; the token endpoint is ready.
type fakeTenant struct {
	server *httptest.Server
	mux    *http.ServeMux

	tokenRequests atomic.Int32
	// tokenHandler answers token requests; the default issues numbered tokens.
	tokenHandler http.HandlerFunc
	// expiresIn is the lifetime announced by the default token handler.
	expiresIn int
}

func newFakeTenant(t *testing.T) *fakeTenant {
	t.Helper()

	tenant := &fakeTenant{mux: http.NewServeMux(), expiresIn: 3599}
	tenant.mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		tenant.tokenRequests.Add(1)
		if tenant.tokenHandler != nil {
			tenant.tokenHandler(w, r)
			return
		}
		tenant.issueToken(w)
	})
	tenant.server = httptest.NewServer(tenant.mux)
	t.Cleanup(tenant.server.Close)

	return tenant
}

// issueToken answers like Entra ID's v2 endpoint, with a token numbered after the
// requests so far.
func (f *fakeTenant) issueToken(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%d,"ext_expires_in":%d,"access_token":"%s"}`,
		f.expiresIn, f.expiresIn, accessTokenNumber(int(f.tokenRequests.Load())))
}

func accessTokenNumber(n int) string {
	return fmt.Sprintf("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.token-%d.c2lnbmF0dXJl", n)
}

// handleAPI serves pattern and checks the bearer token.
func (f *fakeTenant) handleAPI(t *testing.T, pattern string, handler http.HandlerFunc) {
	t.Helper()

	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer eyJ") {
			t.Errorf("%s %s: Authorization = %q, want a bearer token", r.Method, r.URL.Path, r.Header.Get("Authorization"))
		}
		handler(w, r)
	})
}

// fakeClock replaces the client's clock: sleeping advances it at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()

	return f.now
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.slept += d

	return nil
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()

	f.now = f.now.Add(d)
}

func (f *fakeClock) Slept() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()

	return f.slept
}

// newTestClient returns a client of tenant on a fake clock. configure may change
// the configuration before the client is built.
func newTestClient(t *testing.T, tenant *fakeTenant, configure ...func(*Config)) (*Client, *fakeClock) {
	t.Helper()

	cfg := Config{
		TenantID:     testTenantID,
		ClientID:     testClientID,
		ClientSecret: testSecret,
		LoginURL:     tenant.server.URL,
		APIURL:       tenant.server.URL,
		Scope:        testScope,
		HTTPClient:   tenant.server.Client(),
		AllowHTTP:    true,
	}
	for _, f := range configure {
		f(&cfg)
	}

	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	clock := &fakeClock{now: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)}
	c.now, c.sleep = clock.Now, clock.Sleep

	return c, clock
}

// recordingSink counts the records of committed parts.
type recordingSink struct {
	mu        sync.Mutex
	begun     int
	committed int
	records   int64
	devices   map[string]bool
}

type recordingPart struct {
	records int64
	devices []string
}

func (p *recordingPart) Add(a *Assessment) {
	p.records++
	p.devices = append(p.devices, string(a.DeviceID))
}

func (s *recordingSink) BeginPart() PartSink {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.begun++

	return &recordingPart{}
}

func (s *recordingSink) CommitPart(p PartSink) {
	s.mu.Lock()
	defer s.mu.Unlock()

	part := p.(*recordingPart)
	s.committed++
	s.records += part.records
	if s.devices == nil {
		s.devices = make(map[string]bool)
	}
	for _, d := range part.devices {
		s.devices[d] = true
	}
}

// deviceID returns the 40-hex id of device n.
func deviceID(n int) string {
	sum := sha1.Sum([]byte(fmt.Sprintf("device-%d", n)))
	return hex.EncodeToString(sum[:])
}

// assessmentJSON is record n as the JSON API sends it (camelCase).
func assessmentJSON(n int) string {
	return fmt.Sprintf(`{"id":"%[1]s_%[2]s_1.1.%[3]d","configurationId":"1.1.%[3]d","deviceId":"%[1]s",`+
		`"deviceName":"srv-%[3]d.contoso.local","profileId":"%[2]s","osPlatform":"WindowsServer2019",`+
		`"osVersion":"10.0.17763.2330","rbacGroupId":86,"rbacGroupName":"UnassignedGroup","isApplicable":true,`+
		`"isCompliant":%[4]t,"dataCollectionTimeOffset":"2021-12-22T00:08:02.478Z",`+
		`"recommendedValue":["Greater than or equal '24'"],"currentValue":["24"],"source":["password_hist_len"]}`,
		deviceID(n), testProfile, n, n%3 != 0)
}

// assessmentLine is record n as an export file line (PascalCase).
func assessmentLine(n int) string {
	return fmt.Sprintf(`{"Id":"%[1]s_%[2]s_18.9.%[3]d","ConfigurationId":"18.9.%[3]d","DeviceId":"%[1]s",`+
		`"DeviceName":"wks-%[3]d.contoso.local","ProfileId":"%[2]s","OsPlatform":"Windows11","RbacGroupId":12,`+
		`"RbacGroupName":"Finance","IsApplicable":true,"IsCompliant":%[4]t,"Source":["hkey_local_machine\\software"]}`,
		deviceID(n), testProfile, n, n%2 == 0)
}

// assessmentPage is a page of the JSON API holding records first..first+count-1.
// nextLink is the raw JSON of the nextLink member, "" to leave it out.
func assessmentPage(base string, first, count int, nextLink string) string {
	records := make([]string, count)
	for i := range records {
		records[i] = assessmentJSON(first + i)
	}

	page := fmt.Sprintf(`{"@odata.context":"%s/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)","value":[%s]`,
		base, strings.Join(records, ","))
	if nextLink != "" {
		page += `,"@odata.nextLink":` + nextLink
	}

	return page + "}"
}

// gzipLines compresses records first..first+count-1 as an export file.
func gzipLines(t *testing.T, first, count int) []byte {
	t.Helper()

	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for n := first; n < first+count; n++ {
		fmt.Fprintln(zw, assessmentLine(n))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	return buf.Bytes()
}

// requests returns mde_exporter_api_requests_total for endpoint and code.
func requests(c *Client, endpoint Endpoint, code string) float64 {
	return testutil.ToFloat64(c.metrics.requests.WithLabelValues(string(endpoint), code))
}

// syncBuffer collects log lines written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()

	return b.buf.String()
}

func captureLogs(logs *syncBuffer) func(*Config) {
	return func(cfg *Config) { cfg.Logger = log.NewLogfmtLogger(logs) }
}

func TestNewRejectsIncompleteConfig(t *testing.T) {
	valid := Config{
		TenantID: testTenantID, ClientID: testClientID, ClientSecret: testSecret,
		LoginURL: "https://login.microsoftonline.com", APIURL: "https://api.securitycenter.microsoft.com", Scope: testScope,
	}

	tests := []struct {
		name   string
		change func(*Config)
	}{
		{"no secret", func(c *Config) { c.ClientSecret = "" }},
		{"no scope", func(c *Config) { c.Scope = "" }},
		{"api url without scheme", func(c *Config) { c.APIURL = "api.securitycenter.microsoft.com" }},
		{"login url with query", func(c *Config) { c.LoginURL = "https://login.microsoftonline.com/?x=1" }},
		{"page size above the API maximum", func(c *Config) { c.PageSize = 200001 }},
	}

	if _, err := New(valid); err != nil {
		t.Fatalf("New(valid config): %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			if _, err := New(cfg); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
}
