package simulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// filesDigest downloads every export file and hashes their bytes in order.
func filesDigest(t *testing.T, opts Options) [32]byte {
	t.Helper()
	tn, _ := startTenant(t, opts)
	token := accessToken(t, tn)
	h := sha256.New()
	for _, u := range exportFiles(t, tn, token).ExportFiles {
		h.Write(download(t, u))
	}
	return [32]byte(h.Sum(nil))
}

func TestSameSeedServesSameFiles(t *testing.T) {
	opts := Options{Seed: 42, Devices: 60, ConfigurationsPerProfile: 8, PartRecords: 100, Shuffle: true, OddShare: 0.2}
	first := filesDigest(t, opts)

	if again := filesDigest(t, opts); again != first {
		t.Error("two tenants with seed 42 served different files")
	}
	opts.Seed = 43
	if other := filesDigest(t, opts); other == first {
		t.Error("seeds 42 and 43 served the same files")
	}
}

// TestExpectedMatchesServedRecords reads every record back over HTTP, through
// the files and through the JSON pages, and checks that the aggregates the
// tenant promises are what a client counts.
func TestExpectedMatchesServedRecords(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"pascal case files", Options{Seed: 1, Devices: 120, ConfigurationsPerProfile: 10, PartRecords: 150, EmptyParts: 2}},
		{"camel case files, shuffled", Options{Seed: 2, Devices: 90, FileCasing: CamelCase, Shuffle: true, PartRecords: 200}},
		{"many odd shapes", Options{Seed: 3, Devices: 80, Profiles: 7, ConfigurationsPerProfile: 6, OddShare: 0.6, RbacGroups: 13}},
		{"all compliant, none odd", Options{Seed: 4, Devices: 30, NonCompliantShare: -1, NotApplicableShare: -1, OddShare: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := startTenant(t, tt.opts)
			token := accessToken(t, tn)
			want := tn.Expected()

			files := readFiles(t, tn, token)
			raw, pages := readPages(t, tn, token, 97)
			paged := decodeRecords(t, raw)
			if pages < 2 {
				t.Fatalf("only %d page; the test needs several", pages)
			}

			t.Run("files", func(t *testing.T) { compareExpected(t, tally(files), want) })
			t.Run("pages", func(t *testing.T) { compareExpected(t, tally(paged), want) })
			t.Run("same order", func(t *testing.T) {
				for i := range min(len(files), len(paged)) {
					if files[i].ID != paged[i].ID {
						t.Fatalf("record %d: file has %s, page has %s", i, files[i].ID, paged[i].ID)
					}
				}
			})
		})
	}
}

func TestSharesShapeTheData(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 5, Devices: 400, NonCompliantShare: 0.15, NotApplicableShare: 0.1})
	e := tn.Expected()

	statuses := map[string]int{}
	for k, n := range e.Devices {
		statuses[k.Status] += n
	}
	na := float64(statuses[statusNotApplicable]) / float64(e.Records)
	nc := float64(statuses[statusNonCompliant]) / float64(e.Records-statuses[statusNotApplicable])
	if na < 0.08 || na > 0.12 {
		t.Errorf("not applicable share = %.3f, want about 0.1", na)
	}
	if nc < 0.12 || nc > 0.18 {
		t.Errorf("non-compliant share of applicable records = %.3f, want about 0.15", nc)
	}
}

func TestRecordsWalksExportOrder(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 6, Devices: 50, PartRecords: 77, Shuffle: true, OddShare: 0.3})
	files := readFiles(t, tn, accessToken(t, tn))

	var walked []Record
	tn.Records(func(r Record) { walked = append(walked, r) })
	if len(walked) != len(files) {
		t.Fatalf("Records walked %d records, the files hold %d", len(walked), len(files))
	}
	for i, r := range walked {
		f := files[i]
		if r.ID != f.ID || r.Status() != f.status() || r.RbacGroupName != *f.RbacGroupName {
			t.Fatalf("record %d: walked %s %s %s, file has %s %s %s", i, r.ID, r.Status(), r.RbacGroupName, f.ID, f.status(), *f.RbacGroupName)
		}
		if r.ID != r.DeviceID+"_"+r.ProfileID+"_"+r.ConfigurationID {
			t.Fatalf("id %s is not deviceId_profileId_configurationId", r.ID)
		}
	}
}

// rawRecord is a record of the JSON API as text and by key.
type rawRecord struct {
	text string
	keys map[string]json.RawMessage
}

// value is the JSON text of key, "" when the key is absent.
func (r rawRecord) value(key string) string { return string(r.keys[key]) }

// TestOddShapesAreServed checks that every odd shape a client must survive
// reaches the wire, and that the files drop empty arrays while the API does not.
func TestOddShapesAreServed(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 7, Devices: 150, ConfigurationsPerProfile: 10, OddShare: 0.5, NotApplicableShare: 0.3})
	token := accessToken(t, tn)
	raw, _ := readPages(t, tn, token, 50_000)

	shapes := []struct {
		name string
		is   func(rawRecord) bool
	}{
		{"source null", func(r rawRecord) bool { return r.value("source") == "null" }},
		{"currentValue null", func(r rawRecord) bool { return r.value("currentValue") == "null" }},
		{"currentValue empty", func(r rawRecord) bool { return r.value("currentValue") == "[]" }},
		{"no dataCollectionTimeOffset", func(r rawRecord) bool { return r.value("dataCollectionTimeOffset") == "" }},
		{"unknown key", func(r rawRecord) bool { return r.value("assessmentMetadata") != "" }},
		{"rbacGroupId number as string", func(r rawRecord) bool { return strings.HasPrefix(r.value("rbacGroupId"), `"`) }},
		{"rbacGroupId Unassigned", func(r rawRecord) bool { return r.value("rbacGroupId") == `"Unassigned"` }},
		{"not applicable, no isCompliant", func(r rawRecord) bool {
			return r.value("isApplicable") == "false" && r.value("isCompliant") == ""
		}},
		{"not applicable, isCompliant false", func(r rawRecord) bool {
			return r.value("isApplicable") == "false" && r.value("isCompliant") == "false"
		}},
		{"not applicable, isCompliant true", func(r rawRecord) bool {
			return r.value("isApplicable") == "false" && r.value("isCompliant") == "true"
		}},
		{"deviceName null", func(r rawRecord) bool { return r.value("deviceName") == "null" }},
		{"deviceName padded", func(r rawRecord) bool { return strings.HasPrefix(r.value("deviceName"), `" `) }},
		{`deviceName with \u00e9 and \"`, func(r rawRecord) bool { return strings.Contains(r.text, `caf\u00e9-\"lobby\"`) }},
	}
	seen := make([]int, len(shapes))
	for _, text := range raw {
		r := rawRecord{text: string(text)}
		if err := json.Unmarshal(text, &r.keys); err != nil {
			t.Fatal(err)
		}
		for i, s := range shapes {
			if s.is(r) {
				seen[i]++
			}
		}
	}
	for i, s := range shapes {
		if seen[i] == 0 {
			t.Errorf("no record of the JSON API has the shape %q", s.name)
		}
	}

	for _, u := range exportFiles(t, tn, token).ExportFiles {
		for _, line := range fileLines(t, download(t, u)) {
			if strings.Contains(line, ":[]") {
				t.Fatalf("file line has an empty array; files omit such keys: %s", line)
			}
		}
	}
}

func TestEmptyTenantHasNoFiles(t *testing.T) {
	tn, _ := startTenant(t, Options{Devices: -1})
	token := accessToken(t, tn)

	resp, body := get(t, tn.APIURL()+"/api/machines/BaselineComplianceAssessmentExport", token)
	if !bytes.Contains(body, []byte(`"exportFiles":[]`)) {
		t.Errorf("export of an empty tenant = %d %s, want exportFiles []", resp.StatusCode, body)
	}
	raw, pages := readPages(t, tn, token, 10)
	if len(raw) != 0 || pages != 1 || tn.Expected().Records != 0 {
		t.Errorf("empty tenant: %d records in %d pages, Expected.Records %d", len(raw), pages, tn.Expected().Records)
	}
}

// TestDemoTenantIsRealistic checks the size of the demo tenant without
// compressing its files, which the race detector makes slow.
func TestDemoTenantIsRealistic(t *testing.T) {
	g := planGeneration(Demo(), newClock().Now())
	e := g.expected

	if e.Records < 100_000 || e.Records > 400_000 {
		t.Errorf("demo tenant has %d records, want a few hundred thousand", e.Records)
	}
	if n := len(g.profiles); n < 3 || n > 5 {
		t.Errorf("demo tenant has %d profiles, want about 4", n)
	}
	groups := map[string]bool{}
	for k := range e.ProfileDevices {
		groups[k.RbacGroup] = true
	}
	if len(groups) < 8 {
		t.Errorf("demo devices are in %d RBAC groups, want 8 or more", len(groups))
	}
}

func TestConfigurationsMatchTheirProfiles(t *testing.T) {
	tn, _ := startTenant(t, Options{Seed: 8, Devices: 20, Profiles: 12, ConfigurationsPerProfile: 45})
	byUniqueID := map[string]Configuration{}
	for _, c := range tn.Configurations() {
		byUniqueID[c.UniqueID] = c
	}

	uniqueIDsOf := map[string][]string{}
	for _, p := range tn.Profiles() {
		for _, id := range p.ConfigurationUniqueIDs {
			c, ok := byUniqueID[id]
			if !ok {
				t.Fatalf("profile %s names configuration %s, which is not listed", p.Name, id)
			}
			if c.BenchmarkName != p.Benchmark || !strings.HasPrefix(c.BenchmarkVersion, p.Version+"-") {
				t.Errorf("profile %s %s %s has configuration of %s %s", p.Name, p.Benchmark, p.Version, c.BenchmarkName, c.BenchmarkVersion)
			}
			uniqueIDsOf[c.ID] = append(uniqueIDsOf[c.ID], c.UniqueID)
		}
	}
	if ids := uniqueIDsOf["1.1.1"]; len(slices.Compact(slices.Sorted(slices.Values(ids)))) < 3 {
		t.Errorf("configuration 1.1.1 has unique ids %v, want one per CIS benchmark", ids)
	}
}

func TestEdgeOptions(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		wantRecords int
		wantGroup   string
	}{
		{"no RBAC groups", Options{Devices: 10, ConfigurationsPerProfile: 2, RbacGroups: -1, OddShare: -1}, 20, "None"},
		{"no profiles", Options{Devices: 10, Profiles: -1}, 0, ""},
		{"profiles without configurations", Options{Devices: 10, ConfigurationsPerProfile: -1}, 0, ""},
		{"one record per file", Options{Devices: 3, ConfigurationsPerProfile: 2, PartRecords: 1, OddShare: -1, RbacGroups: 1}, 6, "Servers-EU"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn, _ := startTenant(t, tt.opts)
			token := accessToken(t, tn)
			want := tn.Expected()
			files := readFiles(t, tn, token)

			compareExpected(t, tally(files), want)
			if want.Records != tt.wantRecords {
				t.Errorf("%d records, want %d", want.Records, tt.wantRecords)
			}
			for k := range want.ProfileDevices {
				if k.RbacGroup != tt.wantGroup {
					t.Errorf("RBAC group %q, want %q", k.RbacGroup, tt.wantGroup)
				}
			}
		})
	}
}
