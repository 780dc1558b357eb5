package client

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// Profiles are listed across nextLinks; a page may start with a UTF-8 BOM.
func TestBaselineProfilesFollowsNextLink(t *testing.T) {
	tenant := newFakeTenant(t)
	tenant.handleAPI(t, "GET /api/baselineProfiles", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("$skip") == "" {
			next := strconv.Quote(tenant.server.URL + "/api/baselineProfiles?$skip=1")
			fmt.Fprint(w, "\ufeff"+`{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicBaselineProfileDto)",`+
				`"value":[{"id":"02bcbb9d-d197-479e-811e-1cd5a6f9f8fa","name":"Windows 10 build 1909 CIS profile","benchmark":"CIS","version":"1.0.0",`+
				`"operatingSystem":"Windows 10","operatingSystemVersion":"1909","status":true,"settingsNumber":51,"lastUpdatedBy":null,`+
				`"createdOnTimestampUTC":"0001-01-01T00:00:00Z","passedDevices":0,"totalDevices":10}],"@odata.nextLink":`+next+`}`)
			return
		}
		fmt.Fprint(w, `{"value":[{"id":"`+testProfile+`","name":"Windows Server 2019 STIG","benchmark":"STIG","status":false,`+
			`"createdOnTimeOffset":"2024-05-02T10:11:12Z"}]}`)
	})

	c, _ := newTestClient(t, tenant)
	profiles, err := c.BaselineProfiles(context.Background())
	if err != nil {
		t.Fatalf("BaselineProfiles: %v", err)
	}

	if len(profiles) != 2 || profiles[0].Name != "Windows 10 build 1909 CIS profile" || profiles[1].ID != testProfile {
		t.Fatalf("profiles = %+v, want the CIS and the STIG profile", profiles)
	}
	if !profiles[0].CreatedOn.IsZero() || profiles[1].CreatedOn.IsZero() {
		t.Errorf("CreatedOn = %v and %v, want unknown then 2024-05-02", profiles[0].CreatedOn, profiles[1].CreatedOn)
	}
	if got := requests(c, EndpointProfiles, "200"); got != 2 {
		t.Errorf("profile requests = %v, want 2", got)
	}
}

// A list page that is not JSON fails with reason decode.
func TestBaselineConfigurationsDecodeFailure(t *testing.T) {
	tenant := newFakeTenant(t)
	tenant.handleAPI(t, "GET /api/baselineConfigurations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><body>Service Unavailable</body></html>")
	})

	c, _ := newTestClient(t, tenant)
	if _, err := c.BaselineConfigurations(context.Background()); Reason(err) != "decode" {
		t.Errorf("err = %v (reason %q), want decode", err, Reason(err))
	}
}
