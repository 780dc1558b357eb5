package client

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func openFixture(t *testing.T, name string) *os.File {
	t.Helper()

	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	return f
}

func TestReferenceDecodesDocExample(t *testing.T) {
	page, err := decodeODataPage[BaselineAssessment](openFixture(t, "baseline_assessment_doc_example.json"))
	if err != nil {
		t.Fatalf("decoding the documentation example: %v", err)
	}

	if len(page.Value) != 1 {
		t.Fatalf("got %d records, want 1", len(page.Value))
	}
	if page.NextLink != "" {
		t.Errorf("NextLink = %q, want none", page.NextLink)
	}
	// The stray spaces of the documentation are kept as sent.
	wantContext := " https://api.securitycenter.microsoft.com /api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)"
	if page.Context != FlexString(wantContext) {
		t.Errorf("Context = %q, want %q", page.Context, wantContext)
	}

	want := BaselineAssessment{
		ID:                       "0000682575d5d473e82ed4d8680425d152411251_9e1b90be-e83e-485b-a5ec-4a429412e734_1.1.1",
		ConfigurationID:          "1.1.1",
		ProfileID:                "9e1b90be-e83e-485b-a5ec-4a429412e734",
		DeviceID:                 "0000682575d5d473242222425d152411251",
		DeviceName:               " ComputerPII_365f5c0bb7202c163937dad3d017969b2d760eb4.DomainPII_29596 ",
		OSPlatform:               "WindowsServer2019",
		OSVersion:                "10.0.17763.2330",
		RbacGroupID:              "86",
		RbacGroupName:            "UnassignedGroup",
		IsApplicable:             true,
		IsCompliant:              false,
		DataCollectionTimeOffset: Time{time.Date(2021, 12, 22, 0, 8, 2, 478e6, time.UTC)},
		// complianceCalculationTimeOffset is not in the example: unknown.
		ComplianceCalculationTimeOffset: Time{},
		RecommendedValue:                StringList{"Greater than or equal '24'"},
		CurrentValue:                    StringList{"24"},
		Source:                          StringList{"password_hist_len"},
		IsExempt:                        false,
	}
	if got := page.Value[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("record:\n got %+v\nwant %+v", got, want)
	}

	if got := page.Value[0].Assessment(); recordOf(&got) != docExampleRecord {
		t.Errorf("Assessment() = %+v, want %+v", recordOf(&got), docExampleRecord)
	}
}

func TestReferenceFileAndAPICasingsAgree(t *testing.T) {
	// K02: the export file holds the same records as the API page, PascalCase and
	// with file-style timestamps. Every field must decode to the same value.
	page, err := decodeODataPage[BaselineAssessment](openFixture(t, "baseline_page_k02.json"))
	if err != nil {
		t.Fatalf("decoding the page: %v", err)
	}

	var fromFile []BaselineAssessment
	lines := bufio.NewScanner(openFixture(t, "baseline_export_part_k02.json"))
	for lines.Scan() {
		b, err := DecodeAssessmentReference(lines.Bytes())
		if err != nil && !errors.Is(err, ErrMissingKey) {
			t.Fatalf("line %d: %v", len(fromFile)+1, err)
		}
		fromFile = append(fromFile, b)
	}

	if len(fromFile) != len(page.Value) {
		t.Fatalf("file has %d records, page %d", len(fromFile), len(page.Value))
	}
	for i := range fromFile {
		if !reflect.DeepEqual(fromFile[i], page.Value[i]) {
			t.Errorf("record %d:\nfile %+v\npage %+v", i+1, fromFile[i], page.Value[i])
		}
	}
}

func TestReferenceNullsAreEmpty(t *testing.T) {
	// K05: "source":null and "currentValue":null are empty lists.
	input := `{"deviceId":"a07d31c2e59b4f68d0c1e2f3a4b5c6d7e8f90a1b","profileId":"5d3e6a2c-7b1f-4e8d-9c0a-1f2e3d4c5b6a","configurationId":"9.3.9",` +
		`"deviceName":null,"rbacGroupId":null,"rbacGroupName":null,"isCompliant":null,"dataCollectionTimeOffset":null,` +
		`"recommendedValue":null,"currentValue":null,"source":null}`

	got, err := DecodeAssessmentReference([]byte(input))
	if err != nil {
		t.Fatal(err)
	}

	if len(got.RecommendedValue) != 0 || len(got.CurrentValue) != 0 || len(got.Source) != 0 {
		t.Errorf("lists = %q %q %q, want all empty", got.RecommendedValue, got.CurrentValue, got.Source)
	}
	if got.DeviceName != "" || got.RbacGroupID != "" || got.RbacGroupName != "" {
		t.Errorf("strings = %q %q %q, want all empty", got.DeviceName, got.RbacGroupID, got.RbacGroupName)
	}
	if bool(got.IsCompliant) || !got.DataCollectionTimeOffset.IsZero() {
		t.Errorf("IsCompliant = %v, DataCollectionTimeOffset = %v; want false and unknown", got.IsCompliant, got.DataCollectionTimeOffset)
	}
}

func TestReferenceRejectsNonObjects(t *testing.T) {
	for _, input := range []string{`null`, `[]`, `"deviceId"`, `{"deviceId":"d1"`, `{"isExempt":"sometimes"}`} {
		if _, err := DecodeAssessmentReference([]byte(input)); err == nil || errors.Is(err, ErrMissingKey) {
			t.Errorf("DecodeAssessmentReference(%s) error = %v, want a decoding error", input, err)
		}
	}
}

func TestK08DecodeProfilesPage(t *testing.T) {
	// K08: both timestamp names, the zero date, lastUpdatedBy null, numbers as strings.
	profiles, nextLink, err := decodeProfilesPage(openFixture(t, "baseline_profiles_k08.json"))
	if err != nil {
		t.Fatal(err)
	}

	want := []Profile{
		{
			ID:                     "02bcbb9d-d197-479e-811e-1cd5a6f9f8fa",
			Name:                   "Windows 10 build 1909 CIS profile",
			Description:            "important",
			Benchmark:              "CIS",
			Version:                "1.0.0",
			OperatingSystem:        "Windows 10",
			OperatingSystemVersion: "1909",
			Status:                 true,
			ComplianceLevel:        "Level 1 (L1) - Corporate/Enterprise Environment (general use)",
			SettingsNumber:         51,
			CreatedBy:              "admin@contoso.onmicrosoft.com",
			LastUpdatedBy:          "",
			CreatedOn:              time.Time{},
			LastUpdated:            time.Time{},
			PassedDevices:          0,
			TotalDevices:           10,
		},
		{
			ID:                     "9e1b90be-e83e-485b-a5ec-4a429412e734",
			Name:                   "Windows Server 2019 STIG",
			Benchmark:              "STIG",
			Version:                "2.5",
			OperatingSystem:        "Windows Server",
			OperatingSystemVersion: "2019",
			Status:                 false,
			ComplianceLevel:        "CAT I",
			SettingsNumber:         272,
			CreatedBy:              "secops@contoso.onmicrosoft.com",
			LastUpdatedBy:          "auditor@contoso.onmicrosoft.com",
			CreatedOn:              time.Date(2023, 4, 17, 8, 30, 12, 123456700, time.UTC),
			LastUpdated:            time.Date(2024, 2, 1, 14, 5, 0, 0, time.UTC),
			PassedDevices:          118,
			TotalDevices:           130,
		},
	}

	if !reflect.DeepEqual(profiles, want) {
		t.Errorf("profiles:\n got %+v\nwant %+v", profiles, want)
	}
	if !profiles[0].CreatedOn.IsZero() || !profiles[0].LastUpdated.IsZero() {
		t.Errorf("zero date decoded as %v / %v, want unknown", profiles[0].CreatedOn, profiles[0].LastUpdated)
	}
	if nextLink != "" {
		t.Errorf("nextLink = %q, want none", nextLink)
	}
}

func TestK08DecodeConfigurationsPage(t *testing.T) {
	// K08: cce string or number, complianceLevels array or string.
	configs, nextLink, err := decodeConfigurationsPage(openFixture(t, "baseline_configurations_k08.json"))
	if err != nil {
		t.Fatal(err)
	}

	want := []Configuration{
		{
			ID:               "9.3.9",
			UniqueID:         "CIS_1.4.0-windows_server_2016_9.3.9",
			BenchmarkName:    "CIS",
			BenchmarkVersion: "1.4.0-windows_server_2016",
			Name:             "(L1) Ensure 'Windows Firewall: Public: Logging: Log dropped packets' is set to 'Yes'",
			Category:         "Public Profile",
			ComplianceLevels: []string{"Level 1 - Domain Controller", "Level 1 - Member Server"},
			CCE:              "CCE-35116-3",
			IsCustom:         false,
		},
		{
			ID:               "1.1.1",
			UniqueID:         "CIS_1.2.0-windows_server_2019_1.1.1",
			BenchmarkName:    "CIS",
			BenchmarkVersion: "1.2.0-windows_server_2019",
			Name:             "(L1) Ensure 'Enforce password history' is set to '24 or more password(s)'",
			Category:         "Password Policy",
			ComplianceLevels: []string{"Level 1 - Member Server"},
			CCE:              "35219",
			IsCustom:         true,
		},
	}

	if !reflect.DeepEqual(configs, want) {
		t.Errorf("configurations:\n got %+v\nwant %+v", configs, want)
	}
	if nextLink != "" {
		t.Errorf("nextLink = %q, want none", nextLink)
	}
}

func TestDecodeListPagesNextLink(t *testing.T) {
	// K10: an absent key and null both end the pagination.
	tests := []struct {
		name string
		page string
		want string
	}{
		{"absent", `{"value":[]}`, ""},
		{"null", `{"value":[],"@odata.nextLink":null}`, ""},
		{"before value", `{"@odata.nextLink":"https://api.securitycenter.microsoft.com/api/baselineProfiles?$skip=2","value":[]}`, "https://api.securitycenter.microsoft.com/api/baselineProfiles?$skip=2"},
		{"with BOM", "\xEF\xBB\xBF{\"value\":[],\"@odata.nextLink\":\"https://h/next\"}", "https://h/next"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, gotProfiles, err := decodeProfilesPage(strings.NewReader(tt.page))
			if err != nil || gotProfiles != tt.want {
				t.Errorf("decodeProfilesPage nextLink = %q, %v; want %q", gotProfiles, err, tt.want)
			}

			_, gotConfigs, err := decodeConfigurationsPage(strings.NewReader(tt.page))
			if err != nil || gotConfigs != tt.want {
				t.Errorf("decodeConfigurationsPage nextLink = %q, %v; want %q", gotConfigs, err, tt.want)
			}
		})
	}
}

func TestDecodeListPagesRejectsMalformedPages(t *testing.T) {
	tests := []struct {
		name    string
		page    string
		wantErr string
	}{
		{"truncated", `{"value":[{"id":"1.1.1"`, "decoding baseline configurations: unexpected EOF"},
		{"trailing data", `{"value":[]} {"value":[]}`, "decoding baseline configurations: unexpected data after the page"},
		{"wrong type", `{"value":[{"isCustom":"maybe"}]}`, `decoding baseline configurations: expected true, false or null, got "maybe"`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decodeConfigurationsPage(bytes.NewReader([]byte(tt.page)))
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
