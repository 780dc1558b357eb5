package collector_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// TestEndToEndMatchesTheTenant reads a simulated tenant over HTTP in both modes
// and checks every series against the counts the simulator computed from its
// own data, and the two modes against each other.
func TestEndToEndMatchesTheTenant(t *testing.T) {
	opts := simulator.Options{
		Seed:                     7,
		Devices:                  300,
		Profiles:                 3,
		ConfigurationsPerProfile: 15,
		RbacGroups:               4,
		OddShare:                 0.1,
		PartRecords:              1000,
		EmptyParts:               1,
		Shuffle:                  true,
	}
	tenant, c := startTenant(t, opts)
	expected := tenant.Expected()
	if expected.Records < 3000 {
		t.Fatalf("the simulated tenant has only %d records; the test needs several parts and pages", expected.Records)
	}

	results := make(map[string][2]map[string]float64)
	for _, mode := range []string{collector.ModeFiles, collector.ModeJSON} {
		t.Run(mode, func(t *testing.T) {
			r := refreshOnce(t, c, mode)
			col := collector.NewCollector(r)

			devices := gather(t, col, "mde_baseline_devices", "profile_id", "configuration_id", "rbac_group", "os_platform", "status")
			profiles := gather(t, col, "mde_baseline_profile_devices", "profile_id", "rbac_group", "os_platform", "status")
			diff(t, "mde_baseline_devices", devices, expectedDevices(expected))
			diff(t, "mde_baseline_profile_devices", profiles, expectedProfileDevices(expected))

			if got := r.Snapshot().Records; got != int64(expected.Records) {
				t.Errorf("records = %d, want %d", got, expected.Records)
			}
			results[mode] = [2]map[string]float64{devices, profiles}
		})
	}

	diff(t, "json vs files mde_baseline_devices", results[collector.ModeJSON][0], results[collector.ModeFiles][0])
	diff(t, "json vs files mde_baseline_profile_devices", results[collector.ModeJSON][1], results[collector.ModeFiles][1])
}

// TestEndToEndInfoMetrics checks that every profile of the tenant is described
// and every configuration seen gets its name.
func TestEndToEndInfoMetrics(t *testing.T) {
	tenant, c := startTenant(t, simulator.Options{Seed: 3, Devices: 50, Profiles: 3, ConfigurationsPerProfile: 5})
	col := collector.NewCollector(refreshOnce(t, c, collector.ModeFiles))

	profiles := gather(t, col, "mde_baseline_profile_info", "profile_id", "profile_name")
	for _, p := range tenant.Profiles() {
		if profiles[p.ID+"|"+p.Name] != 1 {
			t.Errorf("mde_baseline_profile_info for %s %q missing; got %v", p.ID, p.Name, profiles)
		}
	}

	configurations := gather(t, col, "mde_baseline_configuration_info", "profile_id", "configuration_id", "configuration_name")
	pairs := make(map[string]bool)
	for k := range tenant.Expected().Devices {
		pairs[k.ProfileID+"|"+k.ConfigurationID] = true
	}
	if len(configurations) != len(pairs) {
		t.Errorf("configuration info has %d series, want one per (profile, configuration) pair: %d", len(configurations), len(pairs))
	}
	for key := range configurations {
		if strings.HasSuffix(key, "|") {
			t.Errorf("configuration %s has no name", key)
		}
	}
}

// TestEndToEndCollectAndLint lints the whole output for a tiny tenant.
func TestEndToEndCollectAndLint(t *testing.T) {
	_, c := startTenant(t, simulator.Options{Seed: 11, Devices: 20, Profiles: 2, ConfigurationsPerProfile: 3})
	col := collector.NewCollector(refreshOnce(t, c, collector.ModeJSON))

	problems, err := testutil.CollectAndLint(col)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestEndToEndCollectAndCompare pins the exposition of a tiny tenant against
// text written from the simulator's own counts.
func TestEndToEndCollectAndCompare(t *testing.T) {
	tenant, c := startTenant(t, simulator.Options{Seed: 5, Devices: 12, Profiles: 1, ConfigurationsPerProfile: 2, RbacGroups: 2})
	col := collector.NewCollector(refreshOnce(t, c, collector.ModeFiles))

	var want strings.Builder
	want.WriteString("# HELP mde_baseline_profile_devices Devices that pass every applicable configuration of a profile (compliant), fail at least one (non_compliant), or have none applicable (not_applicable), from the last complete export (cached).\n")
	want.WriteString("# TYPE mde_baseline_profile_devices gauge\n")
	expected := tenant.Expected()
	var lines []string
	for k, n := range expected.ProfileDevices {
		lines = append(lines, fmt.Sprintf("mde_baseline_profile_devices{os_platform=%q,profile_id=%q,rbac_group=%q,status=%q} %d\n",
			k.OSPlatform, k.ProfileID, k.RbacGroup, k.Status, n))
	}
	sort.Strings(lines)
	want.WriteString(strings.Join(lines, ""))
	want.WriteString("# HELP mde_exporter_snapshot_records Assessment records counted in the snapshot being served.\n")
	want.WriteString("# TYPE mde_exporter_snapshot_records gauge\n")
	fmt.Fprintf(&want, "mde_exporter_snapshot_records %d\n", expected.Records)

	if len(lines) == 0 || expected.Records == 0 {
		t.Fatal("the tiny tenant has no data")
	}
	if err := testutil.CollectAndCompare(col, strings.NewReader(want.String()), "mde_baseline_profile_devices", "mde_exporter_snapshot_records"); err != nil {
		t.Error(err)
	}
}
