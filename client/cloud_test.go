package client

import (
	"context"
	"net/http"
	"testing"
)

// K07: one cloud setting gives the sign-in host, the API host and the scope
// together, e.g. login.microsoftonline.us and api-gov.securitycenter.microsoft.us
// for GCC High.
func TestK07LookupCloud(t *testing.T) {
	tests := []struct {
		name                   string
		login, api, tokenScope string
	}{
		{"commercial", "https://login.microsoftonline.com", "https://api.securitycenter.microsoft.com",
			"https://api.securitycenter.microsoft.com/.default"},
		{"gcc", "https://login.microsoftonline.com", "https://api-gcc.securitycenter.microsoft.us",
			"https://api-gcc.securitycenter.microsoft.us/.default"},
		{"gcc-high", "https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us",
			"https://api-gov.securitycenter.microsoft.us/.default"},
		{"DoD", "https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us",
			"https://api-gov.securitycenter.microsoft.us/.default"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cloud, err := LookupCloud(tt.name)
			if err != nil {
				t.Fatalf("LookupCloud: %v", err)
			}
			if cloud.LoginURL != tt.login || cloud.APIURL != tt.api || cloud.Scope != tt.tokenScope {
				t.Errorf("LookupCloud(%q) = %+v, want login %s, API %s, scope %s", tt.name, cloud, tt.login, tt.api, tt.tokenScope)
			}
		})
	}

	if _, err := LookupCloud("uk"); err == nil {
		t.Error(`LookupCloud("uk") succeeded: a region is not a cloud`)
	}
	if len(CloudNames) != len(clouds) {
		t.Errorf("CloudNames has %d names for %d clouds", len(CloudNames), len(clouds))
	}
}

// K06 and K07: the token scope comes from the cloud, whatever API host is used.
// Here a GCC High tenant whose API base is overridden (to the fake server, as a
// regional host would be) still asks for the api-gov audience, on the v2 endpoint
// of its tenant, with the secret in the form body.
func TestK06K07TokenRequestUsesCloudScope(t *testing.T) {
	cloud, err := LookupCloud("gcc-high")
	if err != nil {
		t.Fatal(err)
	}

	tenant := newFakeTenant(t)
	tenant.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Fatal(err)
		}

		want := map[string]string{
			"grant_type":    "client_credentials",
			"client_id":     testClientID,
			"client_secret": testSecret,
			"scope":         "https://api-gov.securitycenter.microsoft.us/.default",
		}
		for key, value := range want {
			if got := r.PostForm.Get(key); got != value {
				t.Errorf("token request %s = %q, want %q", key, got, value)
			}
		}
		if r.URL.Path != "/"+testTenantID+"/oauth2/v2.0/token" {
			t.Errorf("token request path = %s, want the tenant's v2 endpoint", r.URL.Path)
		}
		tenant.issueToken(w)
	}
	tenant.handleAPI(t, "GET /api/baselineProfiles", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"value":[]}`))
	})

	c, _ := newTestClient(t, tenant, func(cfg *Config) { cfg.Scope = cloud.Scope })
	if _, err := c.BaselineProfiles(context.Background()); err != nil {
		t.Fatalf("BaselineProfiles: %v", err)
	}
	if n := tenant.tokenRequests.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}
