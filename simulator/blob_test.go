package simulator

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// storageFailure checks an Azure Storage error answer and returns its body.
func storageFailure(t *testing.T, resp *http.Response, body []byte, status int, code string) string {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("x-ms-error-code") != code || resp.Header.Get("Content-Type") != "application/xml" {
		t.Fatalf("answer %d, x-ms-error-code %q, Content-Type %q; want %d %s application/xml",
			resp.StatusCode, resp.Header.Get("x-ms-error-code"), resp.Header.Get("Content-Type"), status, code)
	}
	s := strings.TrimPrefix(string(body), "\ufeff")
	if !strings.HasPrefix(s, `<?xml version="1.0" encoding="utf-8"?><Error><Code>`+code+`</Code><Message>`) {
		t.Errorf("body %s is not Azure's XML error", body)
	}
	return s
}

func TestExpiredSASIsRefused(t *testing.T) {
	tn, c := startTenant(t, Options{Devices: 20})
	token := accessToken(t, tn)
	fileURL := exportFiles(t, tn, token).ExportFiles[0]
	download(t, fileURL)

	c.Advance(time.Hour + time.Second)
	resp, body := get(t, fileURL, "")
	s := storageFailure(t, resp, body, http.StatusForbidden, "AuthenticationFailed")
	want := "<AuthenticationErrorDetail>Signature not valid in the specified time frame: Start [Mon, 11 Jan 2021 11:01:30 GMT] - " +
		"Expiry [Mon, 11 Jan 2021 12:01:30 GMT] - Current [Mon, 11 Jan 2021 12:01:31 GMT]</AuthenticationErrorDetail>"
	if !strings.Contains(s, want) {
		t.Errorf("body %s, want %s", s, want)
	}

	fresh := exportFiles(t, tn, accessToken(t, tn)).ExportFiles[0]
	download(t, fresh)
}

func TestExpireSASExpiresHandedOutURLs(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 20})
	token := accessToken(t, tn)
	old := exportFiles(t, tn, token).ExportFiles[0]

	tn.ExpireSAS()
	resp, body := get(t, old, "")
	s := storageFailure(t, resp, body, http.StatusForbidden, "AuthenticationFailed")
	if !strings.Contains(s, "Signature not valid in the specified time frame") {
		t.Errorf("body %s does not say the signature expired", s)
	}
	download(t, exportFiles(t, tn, token).ExportFiles[0])
}

func TestBlobRefusals(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 20})
	token := accessToken(t, tn)
	fileURL := exportFiles(t, tn, token).ExportFiles[0]
	path, _, _ := strings.Cut(fileURL, "?")

	tests := []struct {
		name   string
		url    string
		token  string
		status int
		code   string
	}{
		{"bearer token sent to storage", fileURL, token, http.StatusBadRequest, "InvalidAuthenticationInfo"},
		{"tampered signature", fileURL[:len(fileURL)-6] + "AAAA%3D", "", http.StatusForbidden, "AuthenticationFailed"},
		{"longer validity than signed", strings.Replace(fileURL, "se=2021-01-11T12", "se=2021-01-11T18", 1), "",
			http.StatusForbidden, "AuthenticationFailed"},
		{"no SAS at all", path, "", http.StatusNotFound, "ResourceNotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tt.url, tt.token)
			storageFailure(t, resp, body, tt.status, tt.code)
		})
	}
}

func TestBlobIsServedAsAzureDoes(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 20})
	fileURL := exportFiles(t, tn, accessToken(t, tn)).ExportFiles[0]
	resp, body := get(t, fileURL, "")

	if resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get("Content-Encoding") != "" ||
		resp.Header.Get("x-ms-blob-type") != "BlockBlob" {
		t.Errorf("headers %v, want a gzip blob served as application/octet-stream", resp.Header)
	}
	if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Errorf("body does not start with the gzip magic bytes")
	}
}
