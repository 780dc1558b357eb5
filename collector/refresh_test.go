package collector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mde-exporter/mde_exporter/client"
)

// fakeSource serves a fixed export, and can be told to fail.
type fakeSource struct {
	generated time.Time
	records   []*client.Assessment
	profiles  []client.Profile
	failWith  error
	downloads int
}

func (f *fakeSource) BaselineProfiles(context.Context) ([]client.Profile, error) {
	return f.profiles, nil
}

func (f *fakeSource) BaselineConfigurations(context.Context) ([]client.Configuration, error) {
	return nil, nil
}

func (f *fakeSource) BaselineExportFiles(context.Context) (client.ExportFiles, error) {
	return client.ExportFiles{URLs: []string{"https://blob.invalid/part-00000.json.gz"}, GeneratedTime: f.generated}, nil
}

func (f *fakeSource) DownloadBaselineExport(_ context.Context, _ client.ExportFiles, sink client.Sink) (client.Stats, error) {
	f.downloads++
	part := sink.BeginPart()
	for _, r := range f.records {
		part.Add(r)
	}
	if f.failWith != nil {
		return client.Stats{Records: int64(len(f.records))}, f.failWith
	}
	sink.CommitPart(part)
	return client.Stats{Records: int64(len(f.records)), Parts: 1}, nil
}

func (f *fakeSource) BaselineAssessments(ctx context.Context, sink client.Sink) (client.Stats, error) {
	return f.DownloadBaselineExport(ctx, client.ExportFiles{}, sink)
}

func newTestRefresher(t *testing.T, source Source, mode string) *Refresher {
	t.Helper()
	r, err := NewRefresher(source, Config{Mode: mode, Interval: time.Hour, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCollectorServesTheSnapshot(t *testing.T) {
	source := &fakeSource{
		generated: time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC),
		profiles:  []client.Profile{{ID: win11, Name: "Windows 11 CIS L1", Benchmark: "CIS", Version: "3.0.0", OperatingSystem: "Windows 11", Status: true}},
		records: []*client.Assessment{
			record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true),
			record(deviceA, win11, "1.1.2", "Servers", "Windows11", true, false),
			record(deviceB, win11, "1.1.1", "Servers", "Windows11", false, false),
		},
	}
	r := newTestRefresher(t, source, ModeFiles)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP mde_baseline_devices Devices assessed against a baseline configuration, by status, from the last complete export (cached; refreshed in the background).
# TYPE mde_baseline_devices gauge
mde_baseline_devices{configuration_id="1.1.1",os_platform="Windows11",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",rbac_group="Servers",status="compliant"} 1
mde_baseline_devices{configuration_id="1.1.1",os_platform="Windows11",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",rbac_group="Servers",status="not_applicable"} 1
mde_baseline_devices{configuration_id="1.1.2",os_platform="Windows11",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",rbac_group="Servers",status="non_compliant"} 1
# HELP mde_baseline_profile_devices Devices that pass every applicable configuration of a profile (compliant), fail at least one (non_compliant), or have none applicable (not_applicable), from the last complete export (cached).
# TYPE mde_baseline_profile_devices gauge
mde_baseline_profile_devices{os_platform="Windows11",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",rbac_group="Servers",status="non_compliant"} 1
mde_baseline_profile_devices{os_platform="Windows11",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",rbac_group="Servers",status="not_applicable"} 1
# HELP mde_baseline_profile_info Names and metadata of a security-baseline profile, always 1 (cached).
# TYPE mde_baseline_profile_info gauge
mde_baseline_profile_info{active="true",benchmark="CIS",benchmark_version="3.0.0",compliance_level="",operating_system="Windows 11",operating_system_version="",profile_id="9e1b90be-6c49-4d4c-8c49-4a429412e734",profile_name="Windows 11 CIS L1"} 1
# HELP mde_exporter_snapshot_generated_timestamp_seconds When Defender generated the export being served, as a Unix time.
# TYPE mde_exporter_snapshot_generated_timestamp_seconds gauge
mde_exporter_snapshot_generated_timestamp_seconds 1.7961012e+09
# HELP mde_exporter_snapshot_loaded Whether a complete snapshot is being served (1) or none was loaded yet (0).
# TYPE mde_exporter_snapshot_loaded gauge
mde_exporter_snapshot_loaded 1
# HELP mde_exporter_snapshot_records Assessment records counted in the snapshot being served.
# TYPE mde_exporter_snapshot_records gauge
mde_exporter_snapshot_records 3
# HELP mde_exporter_refresh_success Whether the last refresh of the export succeeded (1) or failed (0).
# TYPE mde_exporter_refresh_success gauge
mde_exporter_refresh_success 1
# HELP mde_exporter_refreshes_total Refreshes of the export attempted.
# TYPE mde_exporter_refreshes_total counter
mde_exporter_refreshes_total 1
`
	err := testutil.CollectAndCompare(NewCollector(r), strings.NewReader(want),
		"mde_baseline_devices", "mde_baseline_profile_devices", "mde_baseline_profile_info",
		"mde_exporter_snapshot_generated_timestamp_seconds", "mde_exporter_snapshot_loaded",
		"mde_exporter_snapshot_records", "mde_exporter_refresh_success", "mde_exporter_refreshes_total")
	if err != nil {
		t.Error(err)
	}
}

func TestFailedRefreshKeepsTheLastSnapshot(t *testing.T) {
	source := &fakeSource{
		generated: time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC),
		records:   []*client.Assessment{record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true)},
	}
	r := newTestRefresher(t, source, ModeFiles)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	good := r.Snapshot()

	// A new export whose download breaks half-way.
	source.generated = source.generated.Add(6 * time.Hour)
	source.records = append(source.records, record(deviceB, win11, "1.1.1", "Servers", "Windows11", true, false))
	source.failWith = errors.New("unexpected EOF in part-00001")
	if err := r.Refresh(context.Background()); err == nil {
		t.Fatal("refresh succeeded, want the download error")
	}

	if r.Snapshot() != good {
		t.Error("a failed refresh replaced the snapshot")
	}
	want := `
# HELP mde_exporter_refresh_success Whether the last refresh of the export succeeded (1) or failed (0).
# TYPE mde_exporter_refresh_success gauge
mde_exporter_refresh_success 0
`
	if err := testutil.CollectAndCompare(NewCollector(r), strings.NewReader(want), "mde_exporter_refresh_success"); err != nil {
		t.Error(err)
	}
	if got, want := len(r.Snapshot().Devices), 1; got != want {
		t.Errorf("served %d device series, want the %d of the good snapshot", got, want)
	}
	if got := r.healthCopy().failures["other"]; got != 1 {
		t.Errorf("failures{reason=other} = %d, want 1", got)
	}
	if got := r.healthCopy().records; got != 3 {
		t.Errorf("records processed = %d, want 3 (1 good + 2 of the failed refresh)", got)
	}
}

func TestUnchangedExportIsNotDownloadedAgain(t *testing.T) {
	source := &fakeSource{
		generated: time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC),
		records:   []*client.Assessment{record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true)},
	}
	r := newTestRefresher(t, source, ModeFiles)
	for range 3 {
		if err := r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if source.downloads != 1 {
		t.Errorf("downloads = %d, want 1 for an export whose generatedTime did not change", source.downloads)
	}
	if h := r.healthCopy(); h.refreshes != 3 || !h.lastSucceeded {
		t.Errorf("refreshes = %d, last succeeded = %v; want 3 and true", h.refreshes, h.lastSucceeded)
	}
}

func TestCollectorBeforeTheFirstSnapshot(t *testing.T) {
	r := newTestRefresher(t, &fakeSource{}, ModeJSON)
	want := `
# HELP mde_exporter_snapshot_loaded Whether a complete snapshot is being served (1) or none was loaded yet (0).
# TYPE mde_exporter_snapshot_loaded gauge
mde_exporter_snapshot_loaded 0
`
	if err := testutil.CollectAndCompare(NewCollector(r), strings.NewReader(want), "mde_exporter_snapshot_loaded", "mde_baseline_devices", "mde_exporter_refresh_success"); err != nil {
		t.Error(err)
	}
	if r.Ready() {
		t.Error("ready before the first snapshot")
	}
}

func TestMetricsPassLint(t *testing.T) {
	source := &fakeSource{records: []*client.Assessment{record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true)}}
	r := newTestRefresher(t, source, ModeJSON)
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}

	problems, err := testutil.CollectAndLint(NewCollector(r))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
