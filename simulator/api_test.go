package simulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

const byMachine = "/api/machines/BaselineComplianceAssessmentByMachine"

func TestLastPageEndsPagination(t *testing.T) {
	tests := []struct {
		name     string
		nullLink bool
		want     string
	}{
		{"no nextLink key", false, `}]}`},
		{"nextLink null", true, `}],"@odata.nextLink":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := startTenant(t, Options{Devices: 10, ConfigurationsPerProfile: 5, NullNextLinkOnLastPage: tt.nullLink})
			token := accessToken(t, tn)

			var first page
			getJSON(t, tn.APIURL()+byMachine+"?pageSize=30", token, &first)
			if first.NextLink == nil {
				t.Fatal("first page of 30 out of 50 records has no nextLink")
			}
			_, last := get(t, *first.NextLink, token)
			if !bytes.HasSuffix(last, []byte(tt.want)) {
				t.Errorf("last page ends %q, want %q", last[max(len(last)-40, 0):], tt.want)
			}
		})
	}
}

func TestNextLinkIsAbsoluteWithSkipToken(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 10, ConfigurationsPerProfile: 5, RbacGroups: 1, OddShare: -1})
	token := accessToken(t, tn)
	var p page
	getJSON(t, tn.APIURL()+byMachine+"?pageSize=7", token, &p)

	wantContext := tn.APIURL() + "/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)"
	if p.Context != wantContext {
		t.Errorf("@odata.context = %q, want %q", p.Context, wantContext)
	}
	link, err := url.Parse(*p.NextLink)
	if err != nil || tn.APIURL() != link.Scheme+"://"+link.Host || link.Path != byMachine {
		t.Fatalf("nextLink %s is not an absolute URL of the same host and path", *p.NextLink)
	}
	if !strings.Contains(link.RawQuery, "pagesize=7&") {
		t.Errorf("nextLink query %q, want lower-case pagesize=7", link.RawQuery)
	}

	raw, _ := base64.StdEncoding.DecodeString(link.Query().Get("$skiptoken"))
	want := `{"ExportDefinition":{"TimePath":"2021-01-11/1101/"},"ExportFileIndex":0,"LineStoppedAt":7}`
	if string(raw) != want {
		t.Errorf("skip token decodes to %s, want %s", raw, want)
	}
}

func TestTopReturnsThatManyWithoutNextLink(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 10, ConfigurationsPerProfile: 5})
	token := accessToken(t, tn)

	for _, top := range []string{"0", "3", "500"} {
		var p page
		getJSON(t, tn.APIURL()+byMachine+"?$top="+top+"&pageSize=2", token, &p)
		want := map[string]int{"0": 0, "3": 3, "500": 50}[top]
		if len(p.Value) != want || p.NextLink != nil {
			t.Errorf("$top=%s: %d records, nextLink %v; want %d and none", top, len(p.Value), p.NextLink, want)
		}
	}
}

func TestAssessmentRequestErrors(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 10})
	token := accessToken(t, tn)
	token64 := func(s string) string { return url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(s))) }
	stale := token64(`{"ExportDefinition":{"TimePath":"2020-01-01/0000/"},"ExportFileIndex":0,"LineStoppedAt":1}`)
	outside := token64(`{"ExportDefinition":{"TimePath":"2021-01-11/1101/"},"ExportFileIndex":9,"LineStoppedAt":0}`)

	tests := []struct {
		name  string
		query string
		want  int
	}{
		{"largest page", "pageSize=200000", 200},
		{"page above the maximum", "pageSize=200001", 400},
		{"empty page", "pageSize=0", 400},
		{"page size not a number", "pageSize=ten", 400},
		{"negative $top", "$top=-1", 400},
		{"skip token not base64", "$skiptoken=%%%%", 400},
		{"skip token not JSON", "$skiptoken=" + token64("hello"), 400},
		{"skip token of another export", "$skiptoken=" + stale, 400},
		{"skip token past the files", "$skiptoken=" + outside, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, tn.APIURL()+byMachine+"?"+tt.query, token)
			if resp.StatusCode != tt.want {
				t.Errorf("status %d %s, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestPathsAndQueryNamesIgnoreCase(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 10, ConfigurationsPerProfile: 5})
	token := accessToken(t, tn)

	for _, path := range []string{
		"/api/machines/baselineComplianceAssessmentByMachine?PAGESIZE=4",
		"/API/MACHINES/BASELINECOMPLIANCEASSESSMENTBYMACHINE?pagesize=4",
		"/api/v1.0/machines/BaselineComplianceAssessmentByMachine?pageSize=4",
	} {
		var p page
		getJSON(t, tn.APIURL()+path, token, &p)
		if len(p.Value) != 4 {
			t.Errorf("%s: %d records, want 4", path, len(p.Value))
		}
	}
	if resp, _ := get(t, tn.APIURL()+"/api/machines/NoSuchExport", token); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
	}
}

func TestRotatePublishesNewSnapshot(t *testing.T) {
	tn, c := startTenant(t, Options{Seed: 9, Devices: 20, ConfigurationsPerProfile: 5})
	token := accessToken(t, tn)
	before := exportFiles(t, tn, token)
	var p page
	getJSON(t, tn.APIURL()+byMachine+"?pageSize=10", token, &p)
	oldExpected := tn.Expected()
	oldProfile := tn.Profiles()[0].ID

	c.Advance(30 * time.Minute)
	tn.Rotate()
	after := exportFiles(t, tn, token)

	if after.GeneratedTime != "2021-01-11T11:31:00Z" || tn.Expected().GeneratedTime.Format(time.RFC3339) != after.GeneratedTime {
		t.Errorf("generatedTime after Rotate = %s, Expected says %s; want 2021-01-11T11:31:00Z", after.GeneratedTime, tn.Expected().GeneratedTime)
	}
	if !strings.Contains(after.ExportFiles[0], "/2021-01-11/1131/BaselineAssessmentExport/") {
		t.Errorf("file URL %s does not carry the new time path", after.ExportFiles[0])
	}
	if resp, body := get(t, *p.NextLink, token); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("skip token of the old snapshot: %d %s, want 400", resp.StatusCode, body)
	}
	// The previous snapshot's files stay downloadable, for a client still reading them.
	if !bytes.Equal(download(t, before.ExportFiles[0]), download(t, after.ExportFiles[0])) {
		t.Error("Rotate changed the data; only RotateWith should")
	}
	compareExpected(t, tn.Expected(), oldExpected)

	if err := tn.RotateWith(Options{Seed: 10, Devices: 20, ConfigurationsPerProfile: 5, Now: c.Now}); err != nil {
		t.Fatal(err)
	}
	compareExpected(t, tally(readFiles(t, tn, token)), tn.Expected())
	if tn.Profiles()[0].ID == oldProfile {
		t.Error("RotateWith another seed kept the old profiles")
	}
}

var exportURL = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/temp-[0-9a-f-]{36}/2021-01-11/1101/BaselineAssessmentExport/json/` +
	`OrgId=[0-9a-f-]{36}/_RbacGroupId=(\d+|Unassigned)/part-\d{5}-[0-9a-f-]{36}\.c000\.json\.gz` +
	`\?sv=2019-12-12&st=([^&]+)&se=([^&]+)&sr=b&sp=r&sig=[A-Za-z0-9%]+$`)

func TestExportURLs(t *testing.T) {
	tn, c := startTenant(t, Options{Devices: 200, PartRecords: 500, EmptyParts: 2, SASValidity: 3 * time.Hour})
	token := accessToken(t, tn)

	tests := []struct {
		query    string
		status   int
		validity time.Duration
	}{
		{"", 200, 3 * time.Hour},
		{"?sasValidHours=1", 200, time.Hour},
		{"?sasvalidhours=6", 200, 6 * time.Hour},
		{"?sasValidHours=7", 400, 0},
		{"?sasValidHours=0", 400, 0},
	}
	for _, tt := range tests {
		t.Run("sasValidHours"+tt.query, func(t *testing.T) {
			resp, body := get(t, tn.APIURL()+"/api/machines/BaselineComplianceAssessmentExport"+tt.query, token)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d %s, want %d", resp.StatusCode, body, tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			var a exportAnswer
			if err := json.Unmarshal(body, &a); err != nil {
				t.Fatal(err)
			}
			if a.GeneratedTime != "2021-01-11T11:01:00Z" || !strings.HasSuffix(a.Context, "#microsoft.windowsDefenderATP.api.ExportFilesResponse") {
				t.Errorf("generatedTime %s, context %s", a.GeneratedTime, a.Context)
			}
			for _, u := range a.ExportFiles {
				m := exportURL.FindStringSubmatch(u)
				if m == nil {
					t.Fatalf("URL %s does not have the documented layout", u)
				}
				st, _ := time.Parse(time.RFC3339, unescape(m[2]))
				se, _ := time.Parse(time.RFC3339, unescape(m[3]))
				if !st.Equal(c.Now()) || se.Sub(st) != tt.validity {
					t.Errorf("st %s se %s, want st now and a validity of %s", st, se, tt.validity)
				}
			}
		})
	}

	var groups, empty int
	seen := map[string]bool{}
	for _, u := range exportFiles(t, tn, token).ExportFiles {
		folder := u[strings.Index(u, "_RbacGroupId="):strings.Index(u, "/part-")]
		if !seen[folder] {
			seen[folder] = true
			groups++
		}
		if len(download(t, u)) == 0 {
			empty++
		}
	}
	if empty != 2 || groups < 3 {
		t.Errorf("%d empty blobs in %d group folders, want 2 empty blobs and a folder per group", empty, groups)
	}
}

func unescape(s string) string {
	u, _ := url.QueryUnescape(s)
	return u
}

func TestProfilesList(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 40, Profiles: 4})
	token := accessToken(t, tn)
	var all struct {
		Context string                       `json:"@odata.context"`
		Value   []map[string]json.RawMessage `json:"value"`
	}
	getJSON(t, tn.APIURL()+"/api/baselineProfiles", token, &all)

	if !strings.HasSuffix(all.Context, "#Collection(microsoft.windowsDefenderATP.api.PublicBaselineProfileDto)") || len(all.Value) != 4 {
		t.Fatalf("context %s with %d profiles", all.Context, len(all.Value))
	}
	var offsets, examples int
	for _, p := range all.Value {
		if p["createdOnTimeOffset"] != nil && p["lastUpdateTimeOffset"] != nil {
			offsets++
		}
		if string(p["createdOnTimestampUTC"]) == `"0001-01-01T00:00:00Z"` && string(p["lastUpdatedBy"]) == "null" {
			examples++
		}
	}
	if offsets == 0 || examples == 0 || offsets+examples != 4 {
		t.Errorf("%d profiles with ...TimeOffset and %d with zero ...TimestampUTC and null lastUpdatedBy, want both kinds", offsets, examples)
	}

	var window struct{ Value []profileDTO }
	getJSON(t, tn.APIURL()+"/api/baselineProfiles?$skip=1&$top=2", token, &window)
	profiles := tn.Profiles()
	if len(window.Value) != 2 || window.Value[0].ID != profiles[1].ID || window.Value[1].ID != profiles[2].ID {
		t.Errorf("$skip=1&$top=2 gave %d profiles", len(window.Value))
	}
	if window.Value[0].TotalDevices == 0 || window.Value[0].SettingsNumber != 20 {
		t.Errorf("profile %+v has no devices or settings", window.Value[0])
	}
}

func TestConfigurationsList(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: 10, Profiles: 3, ConfigurationsPerProfile: 12})
	token := accessToken(t, tn)
	var list struct {
		Context string `json:"@odata.context"`
		Value   []configurationDTO
	}
	getJSON(t, tn.APIURL()+"/api/baselineConfigurations", token, &list)

	if len(list.Value) != 36 || !strings.HasSuffix(list.Context, "/api/$metadata#BaselineConfigurations") {
		t.Fatalf("%d configurations, context %s; want 36", len(list.Value), list.Context)
	}
	c := list.Value[0]
	if c.ID != "1.1.1" || c.UniqueID != "CIS_"+c.BenchmarkVersion+"_1.1.1" || !regexp.MustCompile(`^CCE-\d{5}-\d$`).MatchString(c.CCE) ||
		len(c.ComplianceLevels) == 0 || !strings.HasPrefix(c.Description, "<p>") || len(c.Source) != len(c.RecommendedValue) {
		t.Errorf("first configuration %+v", c)
	}

	for query, want := range map[string]int{"?$top=5": 5, "?$skip=30&$top=100": 6, "?$top=10000": 36, "?$top=10001": -1} {
		resp, body := get(t, tn.APIURL()+"/api/baselineConfigurations"+query, token)
		if want < 0 {
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", query, resp.StatusCode)
			}
			continue
		}
		var l struct{ Value []configurationDTO }
		if err := json.Unmarshal(body, &l); err != nil || len(l.Value) != want {
			t.Errorf("%s: %d configurations, want %d", query, len(l.Value), want)
		}
	}
}
