package simulator

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the tenant.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2021, 1, 11, 11, 1, 30, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startTenant starts a tenant on a settable clock and closes it after the test.
func startTenant(t testing.TB, opts Options) (*Tenant, *clock) {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	tn, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	return tn, c
}

// tokenForm is a valid v2 client-credentials request for the default app.
func tokenForm() url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {DefaultClientID},
		"client_secret": {DefaultClientSecret},
		"scope":         {"https://api.securitycenter.microsoft.com/.default"},
	}
}

// postToken posts form to the tenant's token endpoint and decodes the answer.
func postToken(t testing.TB, tn *Tenant, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(tn.LoginURL()+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("token answer %d is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// accessToken returns a valid bearer token of the tenant.
func accessToken(t testing.TB, tn *Tenant) string {
	t.Helper()
	status, body := postToken(t, tn, "/"+DefaultTenantID+"/oauth2/v2.0/token", tokenForm())
	if status != http.StatusOK {
		t.Fatalf("token status %d: %v", status, body)
	}
	return body["access_token"].(string)
}

// get sends GET with an optional bearer token and returns the answer, body read.
func get(t testing.TB, rawURL, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", rawURL, err)
	}
	return resp, body
}

// getJSON is get for a 200 JSON answer, decoded into v.
func getJSON(t testing.TB, rawURL, token string, v any) {
	t.Helper()
	resp, body := get(t, rawURL, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", rawURL, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
}

// wireRecord is a record as a client decodes it. encoding/json matches keys
// case-insensitively, so it reads the PascalCase files and the camelCase pages.
type wireRecord struct {
	ID              string  `json:"id"`
	DeviceID        string  `json:"deviceId"`
	ProfileID       string  `json:"profileId"`
	ConfigurationID string  `json:"configurationId"`
	OSPlatform      *string `json:"osPlatform"`
	RbacGroupName   *string `json:"rbacGroupName"`
	IsApplicable    bool    `json:"isApplicable"`
	IsCompliant     bool    `json:"isCompliant"`
}

func (r wireRecord) status() string {
	return Record{IsApplicable: r.IsApplicable, IsCompliant: r.IsCompliant}.Status()
}

type exportAnswer struct {
	Context       string   `json:"@odata.context"`
	ExportFiles   []string `json:"exportFiles"`
	GeneratedTime string   `json:"generatedTime"`
}

// exportFiles asks the export endpoint for the file URLs.
func exportFiles(t *testing.T, tn *Tenant, token string) exportAnswer {
	t.Helper()
	var a exportAnswer
	getJSON(t, tn.APIURL()+"/api/machines/BaselineComplianceAssessmentExport", token, &a)
	return a
}

// download fetches one export file as a client must: without Authorization.
func download(t *testing.T, fileURL string) []byte {
	t.Helper()
	resp, body := get(t, fileURL, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %s", resp.StatusCode, body)
	}
	return body
}

// readFiles reads every record of the export files. An empty blob holds no records.
func readFiles(t *testing.T, tn *Tenant, token string) []wireRecord {
	t.Helper()
	var records []wireRecord
	for _, u := range exportFiles(t, tn, token).ExportFiles {
		records = append(records, decodeFile(t, download(t, u))...)
	}
	return records
}

func decodeFile(t *testing.T, gz []byte) []wireRecord {
	t.Helper()
	if len(gz) == 0 {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var records []wireRecord
	dec := json.NewDecoder(zr)
	for dec.More() {
		var r wireRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("record %d: %v", len(records), err)
		}
		records = append(records, r)
	}
	return records
}

// fileLines returns the raw lines of an export file.
func fileLines(t *testing.T, gz []byte) []string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// page is one answer of the JSON ByMachine endpoint.
type page struct {
	Context  string            `json:"@odata.context"`
	Value    []json.RawMessage `json:"value"`
	NextLink *string           `json:"@odata.nextLink"`
}

// readPages follows the nextLinks from the first page and returns the raw
// records of every page, and the number of pages.
func readPages(t *testing.T, tn *Tenant, token string, pageSize int) ([]json.RawMessage, int) {
	t.Helper()
	next := tn.APIURL() + "/api/machines/BaselineComplianceAssessmentByMachine?pageSize=" + strconv.Itoa(pageSize)
	var raw []json.RawMessage
	pages := 0
	for next != "" {
		var p page
		getJSON(t, next, token, &p)
		raw = append(raw, p.Value...)
		pages++
		next = ""
		if p.NextLink != nil {
			next = *p.NextLink
		}
	}
	return raw, pages
}

func decodeRecords(t *testing.T, raw []json.RawMessage) []wireRecord {
	t.Helper()
	records := make([]wireRecord, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &records[i]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	return records
}

// tally aggregates records as the exporter does.
func tally(records []wireRecord) Expected {
	e := Expected{Records: len(records), Devices: map[SeriesKey]int{}, ProfileDevices: map[ProfileSeriesKey]int{}}
	type pair struct{ device, profile string }
	rollups := map[pair]ProfileSeriesKey{}

	for _, r := range records {
		group, platform := "Unassigned", "Unknown"
		if r.RbacGroupName != nil && strings.TrimSpace(*r.RbacGroupName) != "" {
			group = *r.RbacGroupName
		}
		if r.OSPlatform != nil && *r.OSPlatform != "" {
			platform = *r.OSPlatform
		}
		status := r.status()
		e.Devices[SeriesKey{r.ProfileID, r.ConfigurationID, group, platform, status}]++

		p := pair{r.DeviceID, r.ProfileID}
		k, seen := rollups[p]
		if !seen {
			k = ProfileSeriesKey{r.ProfileID, group, platform, statusNotApplicable}
		}
		if status == statusNonCompliant || (status == statusCompliant && k.Status == statusNotApplicable) {
			k.Status = status
		}
		rollups[p] = k
	}
	for _, k := range rollups {
		e.ProfileDevices[k]++
	}
	return e
}

// compareExpected reports every series where got differs from want.
func compareExpected(t *testing.T, got, want Expected) {
	t.Helper()
	if got.Records != want.Records {
		t.Errorf("records = %d, want %d", got.Records, want.Records)
	}
	diffMaps(t, "devices", got.Devices, want.Devices)
	diffMaps(t, "profile devices", got.ProfileDevices, want.ProfileDevices)
}

func diffMaps[K comparable](t *testing.T, name string, got, want map[K]int) {
	t.Helper()
	errors := 0
	for k, n := range want {
		if got[k] != n && errors < 5 {
			t.Errorf("%s %+v = %d, want %d", name, k, got[k], n)
			errors++
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok && errors < 5 {
			t.Errorf("%s %+v = %d, want no such series", name, k, n)
			errors++
		}
	}
}
