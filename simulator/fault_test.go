package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestThrottleFault(t *testing.T) {
	tests := []struct {
		name        string
		hourly      bool
		retryAfter  time.Duration
		wantHeader  string
		wantMessage string
	}{
		{"per minute", false, 37 * time.Second, "37", "API calls quota exceeded! maximum allowed 30 per 00:01:00"},
		{"per hour", true, 2400 * time.Second, "2400", "API calls quota exceeded! maximum allowed 1000 per 01:00:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Devices: 5})
			token := accessToken(t, tn)
			tn.Inject(Throttle(EndpointAssessments, tt.retryAfter, tt.hourly))

			resp, body := get(t, tn.APIURL()+byMachine, token)
			var e struct{ Error apiErrorDetail }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != tt.wantHeader ||
				e.Error.Code != "429" || e.Error.Message != tt.wantMessage {
				t.Errorf("answer %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
			if resp, _ := get(t, tn.APIURL()+byMachine, token); resp.StatusCode != http.StatusOK {
				t.Errorf("the request after the fault: %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestFaultSkipAndTimes(t *testing.T) {
	tests := []struct {
		name  string
		fault Fault
		want  []int
	}{
		{"once by default", Fault{Status: 503}, []int{503, 200, 200}},
		{"skip one, then twice", Fault{Skip: 1, Times: 2, Status: 503}, []int{200, 503, 503, 200}},
		{"forever", Fault{Times: -1, Status: 500}, []int{500, 500, 500, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Devices: 5})
			token := accessToken(t, tn)
			tt.fault.Endpoint = EndpointProfiles
			tn.Inject(tt.fault)

			for i, want := range tt.want {
				if resp, _ := get(t, tn.APIURL()+"/api/baselineProfiles", token); resp.StatusCode != want {
					t.Errorf("request %d: status %d, want %d", i, resp.StatusCode, want)
				}
			}
			if n := tn.Requests(EndpointProfiles); n != len(tt.want) {
				t.Errorf("Requests = %d, want %d", n, len(tt.want))
			}
		})
	}
}

func TestFaultsQueuePerEndpoint(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 5})
	token := accessToken(t, tn)
	tn.Inject(ServerError(EndpointConfigurations))
	tn.Inject(Throttle(EndpointConfigurations, time.Second, false))

	var got []int
	for range 3 {
		resp, _ := get(t, tn.APIURL()+"/api/baselineConfigurations", token)
		got = append(got, resp.StatusCode)
	}
	if resp, _ := get(t, tn.APIURL()+"/api/baselineProfiles", token); resp.StatusCode != http.StatusOK {
		t.Errorf("profiles answered %d; the faults were for configurations", resp.StatusCode)
	}
	if got[0] != 500 || got[1] != 429 || got[2] != 200 {
		t.Errorf("statuses %v, want [500 429 200]", got)
	}
}

func TestDelayFaultHonoursTheClient(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 5})
	tn.Inject(Fault{Endpoint: EndpointExportFile, Delay: time.Minute})
	fileURL := exportFiles(t, tn, accessToken(t, tn)).ExportFiles[0]

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fileURL, nil)
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("request took %s and ended with %v, want the client's deadline", time.Since(start), err)
	}
	download(t, fileURL)
}

func TestTruncateAfterCutsTheBody(t *testing.T) {
	tests := []struct {
		endpoint string
		path     func(*Tenant, string) string
	}{
		{EndpointExportFile, func(tn *Tenant, token string) string { return exportFiles(t, tn, token).ExportFiles[0] }},
		{EndpointAssessments, func(tn *Tenant, _ string) string { return tn.APIURL() + byMachine }},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Devices: 20})
			token := accessToken(t, tn)
			u := tt.path(tn, token)
			tn.Inject(Fault{Endpoint: tt.endpoint, TruncateAfter: 1000})

			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if tt.endpoint != EndpointExportFile {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if len(body) != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("read %d bytes, then %v; want 1000 and an unexpected EOF", len(body), err)
			}
		})
	}
}

func TestResetConnectionFault(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 5})
	tn.Inject(Fault{Endpoint: EndpointToken, ResetConnection: true})

	_, err := http.PostForm(tn.LoginURL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", tokenForm())
	if err == nil {
		t.Fatal("the token request succeeded through a reset connection")
	}
	accessToken(t, tn)
}

func TestFaultHelpersSpeakEachHostsLanguage(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 5})
	token := accessToken(t, tn)
	fileURL := exportFiles(t, tn, token).ExportFiles[0]

	tn.Inject(SASExpired())
	resp, body := get(t, fileURL, "")
	s := storageFailure(t, resp, body, http.StatusForbidden, "AuthenticationFailed")
	if !strings.Contains(s, "Signature not valid in the specified time frame") {
		t.Errorf("SASExpired body %s", s)
	}

	tn.Inject(ServerError(EndpointExportFile))
	resp, body = get(t, fileURL, "")
	storageFailure(t, resp, body, http.StatusInternalServerError, "InternalError")

	tn.Inject(ServerError(EndpointToken))
	status, answer := postToken(t, tn, "/"+DefaultTenantID+"/oauth2/v2.0/token", tokenForm())
	if status != http.StatusInternalServerError || answer["error_codes"] == nil {
		t.Errorf("token ServerError: %d %v, want 500 with an AADSTS body", status, answer)
	}

	tn.Inject(ServerError(EndpointExport))
	resp, body = get(t, tn.APIURL()+"/api/machines/BaselineComplianceAssessmentExport", token)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), `"code":"InternalServerError"`) {
		t.Errorf("export ServerError: %d %s", resp.StatusCode, body)
	}
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		perMinute int
		code      string
		wantRetry string // seconds until the first request leaves the minute
	}{
		{"ByMachine", byMachine, 30, "429", "57"},
		{"Export", "/api/machines/BaselineComplianceAssessmentExport", 5, "TooManyRequests", "60"},
		{"profiles", "/api/baselineProfiles", 100, "429", "50"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, c := startTenant(t, Options{Devices: 5, EnforceRateLimits: true, ThrottleCode: tt.code})
			token := accessToken(t, tn)
			for i := range tt.perMinute {
				if resp, body := get(t, tn.APIURL()+tt.path, token); resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d of %d allowed per minute: %d %s", i+1, tt.perMinute, resp.StatusCode, body)
				}
				c.Advance(100 * time.Millisecond)
			}

			resp, body := get(t, tn.APIURL()+tt.path, token)
			var e struct{ Error apiErrorDetail }
			_ = json.Unmarshal(body, &e)
			if resp.StatusCode != http.StatusTooManyRequests || e.Error.Code != tt.code || !strings.HasSuffix(e.Error.Message, " per 00:01:00") {
				t.Fatalf("request %d: %d %s, want 429 with code %s", tt.perMinute+1, resp.StatusCode, body, tt.code)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After %s, want %s", got, tt.wantRetry)
			}

			c.Advance(time.Minute)
			if resp, _ := get(t, tn.APIURL()+tt.path, token); resp.StatusCode != http.StatusOK {
				t.Errorf("a minute later: %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestExportHourlyLimit(t *testing.T) {
	tn, c := startTenant(t, Options{Devices: 5, EnforceRateLimits: true})
	export := tn.APIURL() + "/api/machines/BaselineComplianceAssessmentExport"
	token := accessToken(t, tn)
	for i := range 20 {
		if resp, _ := get(t, export, token); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d of 20 per hour: %d", i+1, resp.StatusCode)
		}
		c.Advance(61 * time.Second)
	}

	resp, body := get(t, export, token)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(body), "maximum allowed 20 per 01:00:00") {
		t.Errorf("request 21 within the hour: %d %s, want the hourly 429", resp.StatusCode, body)
	}
}
