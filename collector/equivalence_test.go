package collector_test

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// The tests in this file check that the fast path (klauspost gzip, the
// pipelined line reader, the hand-written decoder, the interning aggregator)
// counts exactly what a plain pipeline of compress/gzip, bufio.Scanner and
// encoding/json counts from the same export files.

// referenceCounts is what the plain pipeline counts.
type referenceCounts struct {
	devices        map[string]float64 // by profile|configuration|group|platform|status
	profileDevices map[string]float64 // by profile|group|platform|status
	records        int64
}

// countReference reads gzip NDJSON export files the plain way.
func countReference(t *testing.T, files [][]byte) referenceCounts {
	t.Helper()
	type rollup struct {
		group, platform     string
		applicable, failing bool
	}
	counts := referenceCounts{devices: make(map[string]float64), profileDevices: make(map[string]float64)}
	devices := make(map[string]*rollup)

	for _, file := range files {
		for _, line := range plainLines(t, file) {
			full, err := client.DecodeAssessmentReference(line)
			if errors.Is(err, client.ErrMissingKey) {
				continue
			}
			if err != nil {
				t.Fatalf("reference decoder: %v in %q", err, line)
			}
			a := full.Assessment()

			group, platform := labelOr(a.RbacGroupName, "Unassigned"), labelOr(a.OSPlatform, "Unknown")
			status := "not_applicable"
			switch {
			case a.IsApplicable && a.IsCompliant:
				status = "compliant"
			case a.IsApplicable:
				status = "non_compliant"
			}
			counts.devices[strings.Join([]string{string(a.ProfileID), string(a.ConfigurationID), group, platform, status}, "|")]++
			counts.records++

			device := strings.ToLower(string(a.DeviceID)) + "|" + string(a.ProfileID)
			r, ok := devices[device]
			if !ok {
				r = &rollup{group: group, platform: platform}
				devices[device] = r
			}
			r.applicable = r.applicable || a.IsApplicable
			r.failing = r.failing || status == "non_compliant"
		}
	}

	for device, r := range devices {
		profile := device[strings.Index(device, "|")+1:]
		status := "not_applicable"
		switch {
		case r.failing:
			status = "non_compliant"
		case r.applicable:
			status = "compliant"
		}
		counts.profileDevices[strings.Join([]string{profile, r.group, r.platform, status}, "|")]++
	}
	return counts
}

// plainLines decompresses an export file with compress/gzip and splits it with
// bufio.Scanner, dropping blank lines.
func plainLines(t *testing.T, file []byte) [][]byte {
	t.Helper()
	if len(file) == 0 {
		return nil
	}
	zr, err := stdgzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(zr)
	scanner.Buffer(nil, 1<<20)

	var lines [][]byte
	for scanner.Scan() {
		if line := bytes.TrimSpace(scanner.Bytes()); len(line) > 0 {
			lines = append(lines, bytes.Clone(line))
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func labelOr(b []byte, fallback string) string {
	if len(b) == 0 {
		return fallback
	}
	return string(b)
}

// seriesByLabels keys a snapshot's series by their joined labels.
func seriesByLabels(series []collector.Series) map[string]float64 {
	out := make(map[string]float64, len(series))
	for _, s := range series {
		out[strings.Join(s.Labels, "|")] = s.Value
	}
	return out
}

func compareWithReference(t *testing.T, snap *collector.Snapshot, want referenceCounts) {
	t.Helper()
	t.Logf("%d records, %d series, %d profile series", want.records, len(want.devices), len(want.profileDevices))
	if snap.Records != want.records {
		t.Errorf("records = %d, reference %d", snap.Records, want.records)
	}
	diff(t, "mde_baseline_devices", seriesByLabels(snap.Devices), want.devices)
	diff(t, "mde_baseline_profile_devices", seriesByLabels(snap.ProfileDevices), want.profileDevices)
}

// TestFilesRefreshMatchesPlainPipelineOnSimulatedTenant runs a files refresh of
// tenants with many odd records, in both casings, and counts the same files the
// plain way.
func TestFilesRefreshMatchesPlainPipelineOnSimulatedTenant(t *testing.T) {
	for _, casing := range []simulator.Casing{simulator.PascalCase, simulator.CamelCase} {
		t.Run(fmt.Sprint("casing ", casing), func(t *testing.T) {
			opts := simulator.Options{
				Seed: 21, Devices: 300, Profiles: 4, ConfigurationsPerProfile: 12, RbacGroups: 5,
				OddShare: 0.4, PartRecords: 900, EmptyParts: 1, Shuffle: true, FileCasing: casing,
			}
			_, c := startTenant(t, opts)

			snap := refreshOnce(t, c, collector.ModeFiles).Snapshot()
			compareWithReference(t, snap, countReference(t, downloadExport(t, c)))
		})
	}
}

// TestFilesDownloadMatchesPlainPipelineOnOddShapes serves export files of
// records in every shape the documentation allows, mixed line by line: keys in
// any casing and order, escapes and Unicode in the counted names, nulls, absent
// and unknown keys, numbers and booleans as strings, whitespace, CRLF, blank
// lines, duplicate keys and records without a key.
func TestFilesDownloadMatchesPlainPipelineOnOddShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	var files [][]byte
	for range 6 {
		files = append(files, gzipLines(t, oddExportLines(r, 3000)))
	}

	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/part-"))
		if err != nil || i >= len(files) {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(files[i])
	}))
	defer server.Close()

	var urls []string
	for i := range files {
		urls = append(urls, fmt.Sprintf("%s/part-%d?sig=x", server.URL, i))
	}

	c, err := client.New(client.Config{
		TenantID: "t", ClientID: "c", ClientSecret: "s", LoginURL: server.URL, APIURL: server.URL, Scope: "s",
		AllowHTTP: true, DownloadWorkers: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	agg := collector.NewAggregator()
	if _, err := c.DownloadBaselineExport(context.Background(), client.ExportFiles{URLs: urls}, agg); err != nil {
		t.Fatal(err)
	}

	compareWithReference(t, agg.Snapshot(nil, nil, time.Time{}), countReference(t, files))
}

func gzipLines(t *testing.T, lines []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oddExportLines returns n lines of records over a few devices, profiles and
// names, each drawn in a random odd shape.
func oddExportLines(r *rand.Rand, n int) []string {
	lines := make([]string, 0, n)
	for range n {
		lines = append(lines, oddRecordLine(r))
	}
	return lines
}

// Each name appears written in several ways that decode to the same value, so
// that interning by raw bytes would split its series.
var (
	oddGroups = [][]string{
		{`"Tier \"0\" Servers"`, `"Tier \u00220\u0022 Servers"`},
		{`"Büro München"`, `"B\u00fcro M\u00FCnchen"`},
		{`"\ud83d\udd12 Locked"`, `"🔒 Locked"`},
		{`"Servers\\EU"`, `"Servers\u005cEU"`},
		{`null`, `""`, `"Unassigned"`},
	}
	oddPlatforms = [][]string{
		{`"Windows11"`, `"Windows\u00311"`},
		{`"WindowsServer2022"`},
		{`null`, `"Unknown"`},
	}
	oddProfiles = [][]string{
		{`"9e1b90be-e83e-485b-a5ec-4a429412e734"`},
		{`"5d3e6a2c-7b1f-4e8d-9c0a-1f2e3d4c5b6a"`, `"5d3e6a2c-7b1f-4e8d-9c0a-1f2e3d4c5b6\u0061"`},
	}
	oddConfigurations = [][]string{{`"1.1.1"`}, {`"18.9.47.5.1"`}, {`"2.3.1.1"`}, {`1.5`, `"1.5"`}}
	oddBooleans       = [][]string{{`true`, `"true"`, `"True"`}, {`false`, `"false"`, `"FALSE"`, `null`}}
	oddKeys           = map[string][]string{
		"DeviceId":        {"deviceId", "DeviceId", "DEVICEID", "deviceid"},
		"ProfileId":       {"profileId", "ProfileId", "PROFILEID"},
		"ConfigurationId": {"configurationId", "ConfigurationId", "configurationID"},
		"RbacGroupName":   {"rbacGroupName", "RbacGroupName", "RBACGroupName", "rbacgroupname"},
		"OsPlatform":      {"osPlatform", "OsPlatform", "OSPlatform", "oſPlatform"},
		"IsApplicable":    {"isApplicable", "IsApplicable", "ISAPPLICABLE"},
		"IsCompliant":     {"isCompliant", "IsCompliant", "iscompliant"},
	}
	oddExtras = []string{
		`"Id":"x_y_z"`, `"DeviceName":null`, `"DeviceName":" wks-\"7\".contoso.com "`, `"RbacGroupId":"86"`,
		`"RbacGroupId":86`, `"RecommendedValue":null`, `"Source":["hkey_local_machine\\software"]`,
		`"AssessmentMetadata":{"engine":"TVM","tags":["baseline",null,{"deviceId":"nested"}]}`, `"IsExempt":false`,
		`"CurrentValue":[]`, `"DataCollectionTimeOffset":"2020-11-03 10:13:34.8476880"`,
	}
)

// oddRecordLine draws one record and writes it in a random shape. A device
// has one group and one platform, as in a real export, written in any of
// their ways.
func oddRecordLine(r *rand.Rand) string {
	spell := func(ways []string) string { return ways[r.IntN(len(ways))] }
	pick := func(choices [][]string) string { return spell(choices[r.IntN(len(choices))]) }

	d := r.IntN(45)
	device := fmt.Sprintf(`"%040x"`, d)
	switch {
	case d >= 40:
		device = fmt.Sprintf(`"device-%d"`, d)
	case r.IntN(3) == 0:
		device = strings.ToUpper(device)
	}
	applicable := r.IntN(5) > 0

	members := []string{
		member(r, "DeviceId", device),
		member(r, "ProfileId", pick(oddProfiles)),
		member(r, "ConfigurationId", pick(oddConfigurations)),
		member(r, "RbacGroupName", spell(oddGroups[d%len(oddGroups)])),
		member(r, "OsPlatform", spell(oddPlatforms[d%len(oddPlatforms)])),
		member(r, "IsApplicable", pick(oddBooleans[boolIndex(applicable):][:1])),
		member(r, "IsCompliant", pick(oddBooleans[r.IntN(2):][:1])),
	}
	shape := r.IntN(12)
	switch shape {
	case 0:
		members = members[:len(members)-1] // no IsCompliant
	case 1:
		members = members[1:] // no DeviceId: skipped
	}
	for range r.IntN(4) {
		members = append(members, oddExtras[r.IntN(len(oddExtras))])
	}
	if r.IntN(2) == 0 {
		r.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
	}
	if shape == 2 {
		// Another group first: the one later in the line wins.
		members = slices.Insert(members, 0, member(r, "RbacGroupName", pick(oddGroups)))
	}

	separator := []string{",", ", ", " ,\t"}[r.IntN(3)]
	line := "{" + strings.Join(members, separator) + "}"
	switch r.IntN(20) {
	case 0:
		return line + "\r\n"
	case 1:
		return "\n " + line + " \n"
	}
	return line + "\n"
}

func member(r *rand.Rand, key, value string) string {
	spellings := oddKeys[key]
	return `"` + spellings[r.IntN(len(spellings))] + `":` + value
}

func boolIndex(b bool) int {
	if b {
		return 0
	}
	return 1
}
