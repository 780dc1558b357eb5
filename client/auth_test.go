package client

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// emptyProfiles serves an empty profile list and remembers the last bearer token.
func emptyProfiles(lastToken *atomic.Value) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lastToken.Store(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		w.Write([]byte(`{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicBaselineProfileDto)","value":[]}`))
	}
}

// K06: a token request naming a regional host as resource is refused with 400
// and AADSTS500011. It is asked once, not in a loop, and the code reaches both the
// error and the log, never the secret.
func TestK06TokenRejectionIsFinal(t *testing.T) {
	tenant := newFakeTenant(t)
	tenant.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named `+
			`https://api-uk.securitycenter.windows.com was not found in the tenant named Contoso. This can happen if the `+
			`application has not been installed by the administrator of the tenant.\r\nTrace ID: 0f6c7f4e-2d1a-4b8e-9a3c-5e7d9b1c2a00\r\n`+
			`Correlation ID: 8d2b4f6a-1c3e-4a5b-8d7f-9e0a1b2c3d4e\r\nTimestamp: 2025-03-14 09:00:00Z","error_codes":[500011],`+
			`"timestamp":"2025-03-14 09:00:00Z","trace_id":"0f6c7f4e-2d1a-4b8e-9a3c-5e7d9b1c2a00",`+
			`"correlation_id":"8d2b4f6a-1c3e-4a5b-8d7f-9e0a1b2c3d4e","error_uri":"https://login.microsoftonline.com/error?code=500011"}`)
	}
	var apiCalls atomic.Int32
	tenant.handleAPI(t, "GET /api/baselineProfiles", func(w http.ResponseWriter, r *http.Request) { apiCalls.Add(1) })

	var logs syncBuffer
	c, _ := newTestClient(t, tenant, captureLogs(&logs), func(cfg *Config) {
		cfg.Scope = "https://api-uk.securitycenter.windows.com/.default"
	})

	_, err := c.BaselineProfiles(context.Background())
	if err == nil {
		t.Fatal("BaselineProfiles succeeded without a token")
	}

	if got := Reason(err); got != "auth" {
		t.Errorf("Reason = %q, want auth", got)
	}
	if !strings.Contains(err.Error(), "AADSTS500011") || !strings.Contains(err.Error(), "invalid_resource") {
		t.Errorf("error %q does not name invalid_resource and AADSTS500011", err)
	}
	if n := tenant.tokenRequests.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1: a 400 is not retried", n)
	}
	if n := apiCalls.Load(); n != 0 {
		t.Errorf("API calls = %d, want 0", n)
	}
	if got := testutil.ToFloat64(c.metrics.tokenFailures); got != 1 {
		t.Errorf("mde_exporter_token_failures_total = %v, want 1", got)
	}
	if got := requests(c, EndpointToken, "400"); got != 1 {
		t.Errorf(`mde_exporter_api_requests_total{endpoint="token",code="400"} = %v, want 1`, got)
	}

	logged := logs.String()
	if !strings.Contains(logged, "aadsts=AADSTS500011") || !strings.Contains(logged, "level=error") {
		t.Errorf("log does not carry the AADSTS code at error level:\n%s", logged)
	}
	if strings.Contains(logged+err.Error(), testSecret) {
		t.Error("the client secret leaked into the log or the error")
	}
}

// Server errors and network trouble at the token endpoint are retried.
func TestTokenServerErrorsAreRetried(t *testing.T) {
	tenant := newFakeTenant(t)
	tenant.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
		if tenant.tokenRequests.Load() <= 2 {
			http.Error(w, `{"error":"temporarily_unavailable","error_description":"AADSTS90033: A transient error has occurred."}`,
				http.StatusServiceUnavailable)
			return
		}
		tenant.issueToken(w)
	}
	var lastToken atomic.Value
	tenant.handleAPI(t, "GET /api/baselineProfiles", emptyProfiles(&lastToken))

	c, clock := newTestClient(t, tenant)
	if _, err := c.BaselineProfiles(context.Background()); err != nil {
		t.Fatalf("BaselineProfiles: %v", err)
	}

	if n := tenant.tokenRequests.Load(); n != 3 {
		t.Errorf("token requests = %d, want 3", n)
	}
	if got := testutil.ToFloat64(c.metrics.tokenFailures); got != 2 {
		t.Errorf("mde_exporter_token_failures_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(c.metrics.retries.WithLabelValues("token")); got != 2 {
		t.Errorf(`mde_exporter_api_retries_total{endpoint="token"} = %v, want 2`, got)
	}
	if clock.Slept() == 0 {
		t.Error("retried without backing off")
	}
}

// The token is renewed at 80 % of the lifetime Entra ID announced, not before,
// whether expires_in comes as a number (v2) or a string (v1).
func TestTokenRenewedBeforeExpiry(t *testing.T) {
	for name, expiresIn := range map[string]string{"number": `3600`, "string": `"3600"`} {
		t.Run(name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			tenant.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"token_type":"Bearer","expires_in":%s,"access_token":%q}`,
					expiresIn, accessTokenNumber(int(tenant.tokenRequests.Load())))
			}
			var lastToken atomic.Value
			tenant.handleAPI(t, "GET /api/baselineProfiles", emptyProfiles(&lastToken))

			c, clock := newTestClient(t, tenant)
			steps := []struct {
				advance    time.Duration
				wantTokens int32
			}{
				{0, 1},
				{47 * time.Minute, 1}, // 78 % of the hour
				{2 * time.Minute, 2},  // 82 %: renewed before it expires
				{10 * time.Minute, 2},
			}
			for _, step := range steps {
				clock.Advance(step.advance)
				if _, err := c.BaselineProfiles(context.Background()); err != nil {
					t.Fatalf("BaselineProfiles: %v", err)
				}
				if n := tenant.tokenRequests.Load(); n != step.wantTokens {
					t.Fatalf("after %v more: token requests = %d, want %d", step.advance, n, step.wantTokens)
				}
			}

			if got, want := lastToken.Load(), accessTokenNumber(2); got != want {
				t.Errorf("API got token %q, want the renewed %q", got, want)
			}
		})
	}
}

// A 401 from the API renews the token and retries the same request, once.
func TestUnauthorizedRenewsTokenOnce(t *testing.T) {
	tests := []struct {
		name           string
		acceptedToken  string
		wantErr        bool
		wantAPIRequest float64
	}{
		{"renewed token accepted", accessTokenNumber(2), false, 2},
		{"renewed token refused too", "none", true, 2},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tenant := newFakeTenant(t)
			tenant.handleAPI(t, "GET /api/baselineConfigurations", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+tt.acceptedToken {
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"error":{"code":"Unauthorized","message":"Authorization token is invalid or expired","target":"|3a7c1e.9f2b"}}`)
					return
				}
				w.Write([]byte(`{"value":[{"id":"9.3.9","uniqueId":"CIS_1.4.0-windows_server_2016_9.3.9","cce":"CCE-35116-3"}]}`))
			})

			c, _ := newTestClient(t, tenant)
			configs, err := c.BaselineConfigurations(context.Background())

			if tt.wantErr {
				if Reason(err) != "auth" || !strings.Contains(err.Error(), "Authorization token is invalid or expired") {
					t.Errorf("err = %v (reason %q), want the API's auth error", err, Reason(err))
				}
			} else if err != nil || len(configs) != 1 {
				t.Fatalf("BaselineConfigurations = %d items, %v; want 1 item", len(configs), err)
			}

			if n := tenant.tokenRequests.Load(); n != 2 {
				t.Errorf("token requests = %d, want 2", n)
			}
			total := requests(c, EndpointConfigurations, "401") + requests(c, EndpointConfigurations, "200")
			if total != tt.wantAPIRequest {
				t.Errorf("API requests = %v, want %v", total, tt.wantAPIRequest)
			}
		})
	}
}
