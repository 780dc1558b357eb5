package client

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{
			"https://tvmexportexternalstgeus.blob.core.windows.net/temp-1ebd/2025-03-14/0500/part-00000.c000.json.gz?sv=2019-12-12&st=2025-03-14T05%3A00%3A00Z&se=2025-03-14T06%3A00%3A00Z&sr=b&sp=r&sig=hX9%2BqL2mV7tR4wZ0%3D",
			"https://tvmexportexternalstgeus.blob.core.windows.net/temp-1ebd/2025-03-14/0500/part-00000.c000.json.gz?sv=REDACTED&st=REDACTED&se=REDACTED&sr=REDACTED&sp=REDACTED&sig=REDACTED",
		},
		{
			"https://api.securitycenter.microsoft.com/api/machines/BaselineComplianceAssessmentByMachine?pagesize=1000&$skiptoken=eyJFeHBvcnQ",
			"https://api.securitycenter.microsoft.com/api/machines/BaselineComplianceAssessmentByMachine?pagesize=REDACTED&$skiptoken=REDACTED",
		},
		{"https://user:pass@example.com/path#frag", "https://example.com/path"},
		{"https://api.securitycenter.microsoft.com/api/baselineProfiles", "https://api.securitycenter.microsoft.com/api/baselineProfiles"},
		{"https://host/%zz?sig=secret", "https://host/%zz?REDACTED"},
	}

	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// Errors of net/http quote the request URL, and for a redirect its Location.
func TestRedactError(t *testing.T) {
	inner := errors.New(`failed to parse Location header "https://other.blob.core.windows.net/p?sig=bG9jYXRpb24%3D": bad`)
	err := redactError(&url.Error{Op: "Get", URL: "https://host/part-00001.json.gz?sv=2019-12-12&sig=c2VjcmV0", Err: inner})

	if msg := err.Error(); strings.Contains(msg, "c2VjcmV0") || strings.Contains(msg, "bG9jYXRpb24") {
		t.Errorf("redacted error still shows a signature: %s", msg)
	}

	var urlErr *url.Error
	if !errors.As(err, &urlErr) || strings.Contains(urlErr.URL, "c2VjcmV0") {
		t.Errorf("unwrapped *url.Error = %v, want one with its URL redacted", urlErr)
	}
}
