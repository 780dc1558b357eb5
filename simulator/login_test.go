package simulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenErrors(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 1})
	v2 := "/" + DefaultTenantID + "/oauth2/v2.0/token"
	with := func(name, value string) url.Values {
		f := tokenForm()
		f.Set(name, value)
		return f
	}

	tests := []struct {
		name       string
		path       string
		form       url.Values
		wantStatus int
		wantError  string
		wantCode   float64
	}{
		{"unknown tenant", "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token", tokenForm(), 400, "invalid_request", 90002},
		{"unknown client id", v2, with("client_id", "99999999-0000-0000-0000-000000000000"), 400, "unauthorized_client", 700016},
		{"wrong secret", v2, with("client_secret", "not-the-secret"), 401, "invalid_client", 7000215},
		{"no secret", v2, with("client_secret", ""), 401, "invalid_client", 7000216},
		{"regional host as scope", v2, with("scope", "https://api-uk.securitycenter.windows.com/.default"), 400, "invalid_resource", 500011},
		{"scope without /.default", v2, with("scope", "https://api.securitycenter.microsoft.com"), 400, "invalid_scope", 1002012},
		{"scope that is no resource", v2, with("scope", "SecurityBaselinesAssessment.Read.All/.default"), 400, "invalid_scope", 70011},
		{"no scope", v2, with("scope", ""), 400, "invalid_request", 900144},
		{"wrong grant type", v2, with("grant_type", "password"), 400, "unsupported_grant_type", 70003},
		{"regional host as v1 resource", "/" + DefaultTenantID + "/oauth2/token",
			with("resource", "https://api-uk.securitycenter.windows.com"), 400, "invalid_resource", 500011},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postToken(t, tn, tt.path, tt.form)
			if status != tt.wantStatus || body["error"] != tt.wantError {
				t.Fatalf("got %d %v, want %d %s", status, body["error"], tt.wantStatus, tt.wantError)
			}
			codes, _ := body["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != tt.wantCode {
				t.Errorf("error_codes = %v, want [%v]", body["error_codes"], tt.wantCode)
			}
			description, _ := body["error_description"].(string)
			if !strings.HasPrefix(description, "AADSTS") || !strings.Contains(description, "\r\nTrace ID: ") {
				t.Errorf("error_description = %q, want the AADSTS text with trace and correlation ids", description)
			}
		})
	}
}

func TestTokenAnswers(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 1})
	v1Form := tokenForm()
	v1Form.Del("scope")
	v1Form.Set("resource", "https://api.securitycenter.microsoft.com")
	atpForm := tokenForm()
	atpForm.Set("scope", "https://securitycenter.onmicrosoft.com/windowsatpservice/.default")

	tests := []struct {
		name        string
		path        string
		form        url.Values
		wantExpires any
	}{
		{"v2 answers numbers", "/oauth2/v2.0/token", tokenForm(), float64(3599)},
		{"v2 with the windowsatpservice scope", "/oauth2/v2.0/token", atpForm, float64(3599)},
		{"v1 answers strings", "/oauth2/token", v1Form, "3599"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := postToken(t, tn, "/"+DefaultTenantID+tt.path, tt.form)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, body)
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != tt.wantExpires || body["ext_expires_in"] != tt.wantExpires {
				t.Errorf("answer %v, want Bearer with expires_in %#v", body, tt.wantExpires)
			}

			token := body["access_token"].(string)
			if resp, msg := get(t, tn.APIURL()+"/api/baselineProfiles", token); resp.StatusCode != http.StatusOK {
				t.Errorf("API refused the token: %d %s", resp.StatusCode, msg)
			}
		})
	}
}

func TestTokenIsJWTWithRoles(t *testing.T) {
	tn, c := startTenant(t, Options{Devices: 1})
	parts := strings.Split(accessToken(t, tn), ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want header.payload.signature", len(parts))
	}

	var claims struct {
		Aud   string   `json:"aud"`
		Tid   string   `json:"tid"`
		AppID string   `json:"appid"`
		Exp   int64    `json:"exp"`
		Roles []string `json:"roles"`
	}
	payload, err := decodeBase64(parts[1])
	if err != nil || json.Unmarshal(payload, &claims) != nil {
		t.Fatalf("payload %q is not base64url JSON", parts[1])
	}
	if claims.Aud != "https://api.securitycenter.microsoft.com" || claims.Tid != DefaultTenantID || claims.AppID != DefaultClientID {
		t.Errorf("claims %+v", claims)
	}
	if len(claims.Roles) != 1 || claims.Roles[0] != "SecurityBaselinesAssessment.Read.All" {
		t.Errorf("roles = %v", claims.Roles)
	}
	if want := c.Now().Add(3599 * time.Second).Unix(); claims.Exp != want {
		t.Errorf("exp = %d, want %d", claims.Exp, want)
	}
}

func TestTokenWithBasicAuthentication(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 1})
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {tn.Scope()}}
	req, _ := http.NewRequest(http.MethodPost, tn.LoginURL()+"/"+DefaultTenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(DefaultClientID), url.QueryEscape(DefaultClientSecret))

	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("client_secret_basic: status %d, want 200", resp.StatusCode)
	}
}

func TestAPIRefusesBadTokens(t *testing.T) {
	tn, c := startTenant(t, Options{Devices: 1})
	valid := accessToken(t, tn)
	graphForm := tokenForm()
	graphForm.Set("scope", "https://graph.microsoft.com/.default")
	_, graph := postToken(t, tn, "/"+DefaultTenantID+"/oauth2/v2.0/token", graphForm)

	tests := []struct {
		name       string
		token      string
		advance    time.Duration
		wantStatus int
		wantCode   string
	}{
		{"no token", "", 0, 401, "Unauthorized"},
		{"forged signature", valid[:strings.LastIndex(valid, ".")] + ".AAAA", 0, 401, "Unauthorized"},
		{"token for Microsoft Graph", graph["access_token"].(string), 0, 403, "Forbidden"},
		{"valid token", valid, 0, 200, ""},
		{"expired token", valid, 3599 * time.Second, 401, "Unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Advance(tt.advance)
			resp, body := get(t, tn.APIURL()+"/api/baselineConfigurations", tt.token)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantCode == "" {
				return
			}
			var e struct{ Error apiErrorDetail }
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.wantCode || e.Error.Target == "" {
				t.Errorf("body %s, want error.code %s with a target", body, tt.wantCode)
			}
		})
	}
}
