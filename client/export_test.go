package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

const (
	exportRoute  = "GET /api/machines/BaselineComplianceAssessmentExport"
	partPath     = "/temp-1ebd3d09-d06a-4aad-ab80-ebc536cec61c/2025-03-14/0500/BaselineAssessmentExport/json/OrgId=5c4e2a1b-7d3f-4e8a-9b6c-0d1e2f3a4b5c/_RbacGroupId=12/"
	generatedAt  = "2025-03-14T05:00:00Z"
	sasExpiredMS = `<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.
RequestId:6b0f8c3e-201e-0042-1c4b-96e5a7000000
Time:2025-03-14T09:00:00.0000000Z</Message><AuthenticationErrorDetail>Signature not valid in the specified time frame: Start [Fri, 14 Mar 2025 05:00:00 GMT] - Expiry [Fri, 14 Mar 2025 06:00:00 GMT] - Current [Fri, 14 Mar 2025 09:00:00 GMT]</AuthenticationErrorDetail></Error>`
)

// sasURL is the download URL of part n with signature sig, shaped like the
// service's: one folder per RBAC group, the signature in the query.
func sasURL(base string, n int, sig string) string {
	return fmt.Sprintf("%s%spart-%05d-c09dfd00-2278-4735-b23a-71733751fcbc.c000.json.gz?sv=2019-12-12&st=2025-03-14T05%%3A00%%3A00Z&se=2025-03-14T06%%3A00%%3A00Z&sr=b&sp=r&sig=%s",
		base, partPath, n, sig)
}

// blobStore serves export parts like Azure Blob Storage: a part's content by path,
// and 403 AuthenticationFailed for a signature it does not accept.
type blobStore struct {
	t     *testing.T
	parts map[string][]byte
	// validSig is the only signature accepted.
	validSig atomic.Value
	// authorized counts requests that carried an Authorization header.
	authorized atomic.Int32
	requests   atomic.Int32
}

func (b *blobStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	if r.Header.Get("Authorization") != "" {
		b.authorized.Add(1)
	}

	if rawQueryValue(r.URL.RawQuery, "sig") != b.validSig.Load() {
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("x-ms-error-code", "AuthenticationFailed")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, sasExpiredMS)
		return
	}

	content, ok := b.parts[r.URL.Path]
	if !ok {
		w.Header().Set("x-ms-error-code", "BlobNotFound")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(content)
}

// rawQueryValue returns the value of key in rawQuery, still escaped.
func rawQueryValue(rawQuery, key string) string {
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if k, v, _ := strings.Cut(pair, "="); k == key {
			return v
		}
	}

	return ""
}

// exportFixture is a tenant whose export list is served from files, and whose
// blobs are on a second server, as storage is not the API host.
type exportFixture struct {
	tenant       *fakeTenant
	blobs        *blobStore
	blobServer   *httptest.Server
	exportCalls  atomic.Int32
	mu           sync.Mutex
	exportAnswer func(call int) string
}

func newExportFixture(t *testing.T, parts map[int][]byte) *exportFixture {
	t.Helper()

	f := &exportFixture{tenant: newFakeTenant(t), blobs: &blobStore{t: t, parts: map[string][]byte{}}}
	f.blobs.validSig.Store("c2lnLTE%3D")
	f.blobServer = httptest.NewServer(f.blobs)
	t.Cleanup(f.blobServer.Close)

	for n, content := range parts {
		path := fmt.Sprintf("%spart-%05d-c09dfd00-2278-4735-b23a-71733751fcbc.c000.json.gz", partPath, n)
		f.blobs.parts[path] = content
	}

	f.tenant.handleAPI(t, exportRoute, func(w http.ResponseWriter, r *http.Request) {
		call := int(f.exportCalls.Add(1))
		f.mu.Lock()
		answer := f.exportAnswer
		f.mu.Unlock()
		fmt.Fprint(w, answer(call))
	})

	return f
}

// exportList is the export endpoint's answer for parts signed with sig.
func (f *exportFixture) exportList(generated, sig string, parts ...int) string {
	urls := make([]string, len(parts))
	for i, n := range parts {
		urls[i] = fmt.Sprintf("%q", sasURL(f.blobServer.URL, n, sig))
	}

	return fmt.Sprintf(`{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#microsoft.windowsDefenderATP.api.ExportFilesResponse","exportFiles":[%s],"generatedTime":%q}`,
		strings.Join(urls, ","), generated)
}

// K01: the first part is an empty blob (zero records, not a corrupt gzip), the
// second one's SAS has expired. The export endpoint is asked once more, the part is
// read through its fresh URL, and the run succeeds. Download URLs never carry the
// bearer token.
func TestExpiredSASIsRenewedOnce(t *testing.T) {
	f := newExportFixture(t, map[int][]byte{0: {}, 1: gzipLines(t, 0, 1500)})
	f.blobs.validSig.Store("c2lnLTI%3D") // only the renewed signature is valid
	f.exportAnswer = func(call int) string {
		return f.exportList(generatedAt, []string{"", "c2lnLTE%3D", "c2lnLTI%3D"}[call], 0, 1)
	}

	c, _ := newTestClient(t, f.tenant, func(cfg *Config) { cfg.DownloadWorkers = 1 })
	ctx := context.Background()

	files, err := c.BaselineExportFiles(ctx)
	if err != nil {
		t.Fatalf("BaselineExportFiles: %v", err)
	}
	// The empty part is signed with the renewed signature from the start.
	files.URLs[0] = sasURL(f.blobServer.URL, 0, "c2lnLTI%3D")

	sink := &recordingSink{}
	stats, err := c.DownloadBaselineExport(ctx, files, sink)
	if err != nil {
		t.Fatalf("DownloadBaselineExport: %v", err)
	}

	if sink.records != 1500 || sink.committed != 2 || stats.Parts != 2 {
		t.Errorf("committed %d records in %d parts (stats %+v), want 1500 in 2", sink.records, sink.committed, stats)
	}
	if n := f.exportCalls.Load(); n != 2 {
		t.Errorf("export endpoint called %d times, want 2", n)
	}
	if got := testutil.ToFloat64(c.metrics.sasURLRefreshes); got != 1 {
		t.Errorf("mde_exporter_sas_url_refreshes_total = %v, want 1", got)
	}
	if got := requests(c, EndpointExportFile, "403"); got != 1 {
		t.Errorf(`mde_exporter_api_requests_total{endpoint="export_file",code="403"} = %v, want 1`, got)
	}
	if got := testutil.ToFloat64(c.metrics.downloadedBytes); got != float64(stats.Bytes) || got == 0 {
		t.Errorf("mde_exporter_export_downloaded_bytes_total = %v, want the %d bytes read", got, stats.Bytes)
	}
	if n := f.blobs.authorized.Load(); n != 0 {
		t.Errorf("%d blob requests carried an Authorization header", n)
	}
}

// K01: when the renewed URLs are refused too, or the export was regenerated, the
// run ends after one renewal with reason export; it never loops on a dead URL.
func TestExpiredSASRenewalFailures(t *testing.T) {
	tests := []struct {
		name          string
		renewed       string
		validSig      string
		wantChanged   bool
		wantErrSubstr string
	}{
		{"renewed URL refused too", generatedAt, "never", false, "refused again right after their URLs were renewed (1): export file"},
		{"export regenerated meanwhile", "2025-03-14T11:00:00Z", "c2lnLTI%3D", true, "generated at 2025-03-14T11:00:00Z"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newExportFixture(t, map[int][]byte{0: gzipLines(t, 0, 10)})
			f.blobs.validSig.Store(tt.validSig)
			f.exportAnswer = func(call int) string {
				if call == 1 {
					return f.exportList(generatedAt, "c2lnLTE%3D", 0)
				}
				return f.exportList(tt.renewed, "c2lnLTI%3D", 0)
			}

			c, _ := newTestClient(t, f.tenant)
			ctx := context.Background()
			files, err := c.BaselineExportFiles(ctx)
			if err != nil {
				t.Fatal(err)
			}

			sink := &recordingSink{}
			_, err = c.DownloadBaselineExport(ctx, files, sink)

			if Reason(err) != "export" || !strings.Contains(err.Error(), tt.wantErrSubstr) {
				t.Fatalf("err = %v (reason %q), want reason export mentioning %q", err, Reason(err), tt.wantErrSubstr)
			}
			if errors.Is(err, ErrSnapshotChanged) != tt.wantChanged {
				t.Errorf("errors.Is(err, ErrSnapshotChanged) = %v, want %v", !tt.wantChanged, tt.wantChanged)
			}
			if n := f.exportCalls.Load(); n != 2 {
				t.Errorf("export endpoint called %d times, want 2", n)
			}
			if sink.committed != 0 {
				t.Errorf("committed %d parts", sink.committed)
			}
			if strings.Contains(err.Error(), "sig=c2lnL") {
				t.Errorf("error shows a signature: %v", err)
			}
		})
	}
}

// K11: an export without files is a successful, empty snapshot.
func TestEmptyExportList(t *testing.T) {
	f := newExportFixture(t, nil)
	f.exportAnswer = func(int) string {
		return `{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#microsoft.windowsDefenderATP.api.ExportFilesResponse","exportFiles":[],"generatedTime":"2025-03-14T05:00:00Z"}`
	}

	c, _ := newTestClient(t, f.tenant)
	ctx := context.Background()

	files, err := c.BaselineExportFiles(ctx)
	if err != nil {
		t.Fatalf("BaselineExportFiles: %v", err)
	}
	if len(files.URLs) != 0 || files.GeneratedTime.Format("2006-01-02T15:04:05Z07:00") != generatedAt {
		t.Errorf("files = %+v, want no URLs generated at %s", files, generatedAt)
	}

	stats, err := c.DownloadBaselineExport(ctx, files, &recordingSink{})
	if err != nil || stats != (Stats{}) {
		t.Errorf("DownloadBaselineExport = %+v, %v; want zero stats and no error", stats, err)
	}
	if n := f.blobs.requests.Load(); n != 0 {
		t.Errorf("%d blob requests for an empty export", n)
	}
}

// Many parts are read in parallel; a part that is not gzip fails the run with
// reason decode and is not committed.
func TestDownloadParts(t *testing.T) {
	tests := []struct {
		name        string
		corruptPart bool
		wantReason  string
	}{
		{"all parts valid", false, ""},
		{"one part is not gzip", true, "decode"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := map[int][]byte{}
			for n := range 8 {
				parts[n] = gzipLines(t, n*250, 250)
			}
			if tt.corruptPart {
				parts[5] = []byte(`{"DeviceId":"` + deviceID(1) + `"}` + "\n")
			}

			f := newExportFixture(t, parts)
			f.exportAnswer = func(int) string { return f.exportList(generatedAt, "c2lnLTE%3D", 0, 1, 2, 3, 4, 5, 6, 7) }

			c, _ := newTestClient(t, f.tenant, func(cfg *Config) { cfg.DownloadWorkers = 3 })
			files, err := c.BaselineExportFiles(context.Background())
			if err != nil {
				t.Fatal(err)
			}

			sink := &recordingSink{}
			_, err = c.DownloadBaselineExport(context.Background(), files, sink)

			if got := Reason(err); got != tt.wantReason {
				t.Fatalf("err = %v, reason %q; want %q", err, got, tt.wantReason)
			}
			if !tt.corruptPart && (sink.records != 2000 || len(sink.devices) != 2000 || sink.committed != 8) {
				t.Errorf("committed %d records of %d devices in %d parts, want 2000 in 8", sink.records, len(sink.devices), sink.committed)
			}
			if tt.corruptPart && sink.committed == 8 {
				t.Error("the corrupt part was committed")
			}
		})
	}
}

// Download URLs are followed only over https, unless AllowHTTP.
func TestPlainHTTPDownloadNeedsAllowHTTP(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowHTTP=%v", allow), func(t *testing.T) {
			f := newExportFixture(t, map[int][]byte{0: gzipLines(t, 0, 3)})
			c, _ := newTestClient(t, f.tenant, func(cfg *Config) { cfg.AllowHTTP = allow })

			files := ExportFiles{URLs: []string{sasURL(f.blobServer.URL, 0, "c2lnLTE%3D")}}
			stats, err := c.DownloadBaselineExport(context.Background(), files, &recordingSink{})

			if allow && (err != nil || stats.Records != 3) {
				t.Errorf("DownloadBaselineExport = %d records, %v; want 3 records", stats.Records, err)
			}
			if !allow && (Reason(err) != "export" || f.blobs.requests.Load() != 0) {
				t.Errorf("err = %v (reason %q), %d blob requests; want a refusal before any request",
					err, Reason(err), f.blobs.requests.Load())
			}
		})
	}
}

// A dead download URL fails without showing its signature anywhere.
func TestDeadSASURLIsRedacted(t *testing.T) {
	const signature = "hX9%2BqL2mV7tR4wZ0pN8sK3jF6dA1cY5bE9uI2oG4hT0%3D"

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := sasURL(dead.URL, 0, signature)
	dead.Close()

	tenant := newFakeTenant(t)
	var logs syncBuffer
	c, _ := newTestClient(t, tenant, captureLogs(&logs), func(cfg *Config) { cfg.MaxRetries = 1 })

	_, err := c.DownloadBaselineExport(context.Background(), ExportFiles{URLs: []string{deadURL}}, &recordingSink{})
	if err == nil {
		t.Fatal("download from a closed server succeeded")
	}

	for _, text := range []string{err.Error(), logs.String()} {
		if strings.Contains(text, "hX9") || strings.Contains(text, "sig=h") {
			t.Errorf("signature shown in %q", text)
		}
	}
	if !strings.Contains(err.Error(), "sig=REDACTED") || !strings.Contains(err.Error(), "part-00000-") {
		t.Errorf("error %q does not name the part with its signature redacted", err)
	}
	if Reason(err) != "http" {
		t.Errorf("Reason = %q, want http", Reason(err))
	}
}

// Debug logs of a whole run name every request, but never the client secret, the
// access token or a download signature.
func TestSecretsStayOutOfLogs(t *testing.T) {
	f := newExportFixture(t, map[int][]byte{0: gzipLines(t, 0, 20), 1: gzipLines(t, 20, 20)})
	f.blobs.validSig.Store("c2lnLTI%3D")
	f.exportAnswer = func(call int) string {
		return f.exportList(generatedAt, []string{"", "c2lnLTE%3D", "c2lnLTI%3D"}[call], 0, 1)
	}

	var logs syncBuffer
	c, _ := newTestClient(t, f.tenant, captureLogs(&logs))
	ctx := context.Background()

	files, err := c.BaselineExportFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DownloadBaselineExport(ctx, files, &recordingSink{}); err != nil {
		t.Fatal(err)
	}

	logged := logs.String()
	if !strings.Contains(logged, "endpoint=export_file") || !strings.Contains(logged, "sig=REDACTED") {
		t.Fatalf("debug log does not show the downloads:\n%s", logged)
	}
	for _, secret := range []string{testSecret, accessTokenNumber(1), "c2lnLTE", "c2lnLTI"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log shows %q:\n%s", secret, logged)
		}
	}
}

// A download cut midway drops the part and reads the file again: its records are
// committed once.
func TestBrokenDownloadIsReadAgain(t *testing.T) {
	data := gzipLines(t, 0, 800)
	var attempts atomic.Int32

	tenant := newFakeTenant(t)
	tenant.mux.HandleFunc("GET /blob/part-00000.json.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if attempts.Add(1) > 1 {
			w.Write(data)
			return
		}

		// The connection drops after half of the file.
		w.Write(data[:len(data)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})

	c, clock := newTestClient(t, tenant)
	sink := &recordingSink{}
	files := ExportFiles{URLs: []string{tenant.server.URL + "/blob/part-00000.json.gz?sv=2019-12-12&sig=c2lnLTE%3D"}}
	stats, err := c.DownloadBaselineExport(context.Background(), files, sink)
	if err != nil {
		t.Fatalf("DownloadBaselineExport: %v", err)
	}

	if sink.records != 800 || sink.committed != 1 || sink.begun != 2 || stats.Parts != 1 {
		t.Errorf("committed %d records in %d of %d parts begun (stats %+v), want 800 in 1 of 2", sink.records, sink.committed, sink.begun, stats)
	}
	if attempts.Load() != 2 || clock.Slept() == 0 {
		t.Errorf("%d attempts after %v of backoff, want 2 after a backoff", attempts.Load(), clock.Slept())
	}
	if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("export_file")); got != 1 {
		t.Errorf(`mde_exporter_api_retries_total{endpoint="export_file"} = %v, want 1`, got)
	}
}
