package collector

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mde-exporter/mde_exporter/client"
)

const (
	deviceA = "1e5bc9d7e413ddd7902c2932e418702b84d0cc07"
	deviceB = "0000012ab4f4c5f1b2c05b3ae8b3b8f2c2f2f7a1"
	deviceC = "ffffffffffffffffffffffffffffffffffffffff"
	win11   = "9e1b90be-6c49-4d4c-8c49-4a429412e734"
	server  = "02bcbb9d-d197-479e-811e-1cd5a6f9f8fa"
)

// record builds an assessment the way the decoder would hand it over.
func record(device, profile, configuration, group, platform string, applicable, compliant bool) *client.Assessment {
	return &client.Assessment{
		DeviceID:        []byte(device),
		ProfileID:       []byte(profile),
		ConfigurationID: []byte(configuration),
		RbacGroupName:   []byte(group),
		OSPlatform:      []byte(platform),
		IsApplicable:    applicable,
		IsCompliant:     compliant,
	}
}

// seriesValues maps the joined labels of each series to its value.
func seriesValues(series []Series) map[string]float64 {
	out := make(map[string]float64, len(series))
	for _, s := range series {
		key := ""
		for i, l := range s.Labels {
			if i > 0 {
				key += "|"
			}
			key += l
		}
		out[key] = s.Value
	}
	return out
}

func assertSeries(t *testing.T, name string, got []Series, want map[string]float64) {
	t.Helper()
	values := seriesValues(got)
	if len(values) != len(want) {
		t.Errorf("%s: got %d series %v, want %d %v", name, len(values), values, len(want), want)
	}
	for k, v := range want {
		if values[k] != v {
			t.Errorf("%s{%s} = %v, want %v", name, k, values[k], v)
		}
	}
}

func TestAggregatorCountsRecordsAndRollsUpDevices(t *testing.T) {
	agg := NewAggregator()
	part := agg.BeginPart()
	for _, r := range []*client.Assessment{
		// Device A passes 1.1.1 and fails 1.1.2: non-compliant with the profile.
		record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true),
		record(deviceA, win11, "1.1.2", "Servers", "Windows11", true, false),
		// Device B passes everything that applies to it: compliant.
		record(deviceB, win11, "1.1.1", "Servers", "Windows11", true, true),
		record(deviceB, win11, "1.1.2", "Servers", "Windows11", false, false),
		// Device C has nothing applicable; its isCompliant must not count.
		record(deviceC, win11, "1.1.1", "", "", false, true),
		record(deviceC, win11, "1.1.2", "", "", false, false),
	} {
		part.Add(r)
	}
	agg.CommitPart(part)

	snap := agg.Snapshot(nil, nil, time.Time{})

	if snap.Records != 6 {
		t.Errorf("records = %d, want 6", snap.Records)
	}
	assertSeries(t, "mde_baseline_devices", snap.Devices, map[string]float64{
		win11 + "|1.1.1|Servers|Windows11|compliant":       2,
		win11 + "|1.1.2|Servers|Windows11|non_compliant":   1,
		win11 + "|1.1.2|Servers|Windows11|not_applicable":  1,
		win11 + "|1.1.1|Unassigned|Unknown|not_applicable": 1,
		win11 + "|1.1.2|Unassigned|Unknown|not_applicable": 1,
	})
	assertSeries(t, "mde_baseline_profile_devices", snap.ProfileDevices, map[string]float64{
		win11 + "|Servers|Windows11|non_compliant":   1,
		win11 + "|Servers|Windows11|compliant":       1,
		win11 + "|Unassigned|Unknown|not_applicable": 1,
	})
}

func TestAggregatorMergesPartsOfOneDevice(t *testing.T) {
	agg := NewAggregator()

	// The same device's records for one profile arrive in two parts that are read
	// concurrently; the failure in the second part decides its rollup.
	first, second := agg.BeginPart(), agg.BeginPart()
	first.Add(record(deviceA, server, "2.2.1", "Servers", "WindowsServer2022", true, true))
	second.Add(record(deviceA, server, "2.2.2", "Servers", "WindowsServer2022", true, false))
	second.Add(record(deviceB, server, "2.2.1", "Servers", "WindowsServer2022", true, true))

	var wg sync.WaitGroup
	for _, p := range []client.PartSink{second, first} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			agg.CommitPart(p)
		}()
	}
	wg.Wait()

	snap := agg.Snapshot(nil, nil, time.Time{})
	assertSeries(t, "mde_baseline_profile_devices", snap.ProfileDevices, map[string]float64{
		server + "|Servers|WindowsServer2022|non_compliant": 1,
		server + "|Servers|WindowsServer2022|compliant":     1,
	})
	if snap.Records != 3 {
		t.Errorf("records = %d, want 3", snap.Records)
	}
}

func TestAggregatorDropsUncommittedParts(t *testing.T) {
	agg := NewAggregator()

	kept := agg.BeginPart()
	kept.Add(record(deviceA, win11, "1.1.1", "Servers", "Windows11", true, true))
	agg.CommitPart(kept)

	failed := agg.BeginPart()
	failed.Add(record(deviceB, win11, "1.1.1", "Servers", "Windows11", true, false))

	snap := agg.Snapshot(nil, nil, time.Time{})
	assertSeries(t, "mde_baseline_devices", snap.Devices, map[string]float64{
		win11 + "|1.1.1|Servers|Windows11|compliant": 1,
	})
}

func TestDeviceIDsAreCaseInsensitiveHexButOtherIDsStayDistinct(t *testing.T) {
	agg := NewAggregator()
	part := agg.BeginPart()
	part.Add(record(deviceA, win11, "1.1.1", "G", "Windows11", true, true))
	part.Add(record("1E5BC9D7E413DDD7902C2932E418702B84D0CC07", win11, "1.1.2", "G", "Windows11", true, false))
	part.Add(record("not-a-hex-id", win11, "1.1.1", "G", "Windows11", true, true))
	part.Add(record("not-a-hex-id-2", win11, "1.1.1", "G", "Windows11", true, true))
	agg.CommitPart(part)

	snap := agg.Snapshot(nil, nil, time.Time{})
	assertSeries(t, "mde_baseline_profile_devices", snap.ProfileDevices, map[string]float64{
		win11 + "|G|Windows11|non_compliant": 1,
		win11 + "|G|Windows11|compliant":     2,
	})
}

func TestConfigurationInfoPicksTheProfilesBenchmark(t *testing.T) {
	profiles := []client.Profile{
		{ID: win11, Name: "Windows 11 CIS L1", Benchmark: "CIS", Version: "3.0.0", OperatingSystem: "Windows 11", OperatingSystemVersion: "23H2", Status: true},
		{ID: server, Name: "Server 2022 STIG", Benchmark: "STIG", Version: "1.4.0", OperatingSystem: "Windows Server", OperatingSystemVersion: "2022"},
	}
	configurations := []client.Configuration{
		{ID: "1.1.1", UniqueID: "CIS_3.0.0-windows_11_23h2_1.1.1", BenchmarkName: "CIS", BenchmarkVersion: "3.0.0-windows_11_23h2", Name: "Enforce password history", Category: "Account Policies", CCE: "CCE-33779-8"},
		{ID: "1.1.1", UniqueID: "STIG_1.4.0-windows_server_2022_1.1.1", BenchmarkName: "STIG", BenchmarkVersion: "1.4.0-windows_server_2022", Name: "Audit logon events", Category: "Audit"},
	}

	agg := NewAggregator()
	part := agg.BeginPart()
	part.Add(record(deviceA, win11, "1.1.1", "G", "Windows11", true, true))
	part.Add(record(deviceB, server, "1.1.1", "G", "WindowsServer2022", true, true))
	agg.CommitPart(part)

	snap := agg.Snapshot(profiles, configurations, time.Time{})

	want := [][]string{
		{server, "1.1.1", "Audit logon events", "Audit", "STIG", "1.4.0-windows_server_2022", ""},
		{win11, "1.1.1", "Enforce password history", "Account Policies", "CIS", "3.0.0-windows_11_23h2", "CCE-33779-8"},
	}
	if len(snap.ConfigurationInfo) != len(want) {
		t.Fatalf("configuration info = %v, want %v", snap.ConfigurationInfo, want)
	}
	for i := range want {
		for j := range want[i] {
			if snap.ConfigurationInfo[i][j] != want[i][j] {
				t.Errorf("configuration info[%d] = %v, want %v", i, snap.ConfigurationInfo[i], want[i])
				break
			}
		}
	}
	if got := snap.ProfileInfo[1]; got[1] != "Windows 11 CIS L1" || got[7] != "true" {
		t.Errorf("profile info = %v, want the Windows 11 profile, active", got)
	}
}

func TestDeviceBytesMatchesHexDecode(t *testing.T) {
	id := []byte("0123456789abcdefABCDEF0123456789abcdef01")
	for place := range id {
		for c := range 256 {
			odd := bytes.Clone(id)
			odd[place] = byte(c)

			var want [20]byte
			if _, err := hex.Decode(want[:], odd); err != nil {
				want = sha1.Sum(odd)
			}
			if got := deviceBytes(odd); got != want {
				t.Fatalf("deviceBytes(%q) = %x, want %x", odd, got, want)
			}
		}
	}
}

// BenchmarkAggregatorMemory measures the memory a refresh needs per device
// (each assessed against one profile) and per series while it aggregates, and
// what the snapshot it leaves keeps per series: the memory of a refresh grows
// only with these two, never with records.
func BenchmarkAggregatorMemory(b *testing.B) {
	// measure aggregates one record per device and configuration, the devices
	// spread over 20 groups, and returns the heap held by the aggregator and the
	// snapshot, and by the snapshot alone.
	measure := func(devices, configurations int) (refreshing, served float64) {
		heap := func() float64 {
			runtime.GC()
			var stats runtime.MemStats
			runtime.ReadMemStats(&stats)
			return float64(stats.HeapAlloc)
		}
		base := heap()

		agg := NewAggregator()
		part := agg.BeginPart()
		for d := range devices {
			for c := range configurations {
				part.Add(record(fmt.Sprintf("%040x", d), win11, fmt.Sprint("1.", c), fmt.Sprint("Group ", d%20), "Windows11", true, c%2 == 0))
			}
		}
		agg.CommitPart(part)
		snap := agg.Snapshot(nil, nil, time.Time{})
		snap.metrics()

		refreshing = heap() - base
		runtime.KeepAlive(agg)
		served = heap() - base
		runtime.KeepAlive(snap)
		return refreshing, served
	}

	for b.Loop() {
		const devices, series = 200_000, 100_000
		few, _ := measure(devices, 1)
		many, _ := measure(2*devices, 1)
		b.ReportMetric((many-few)/devices, "refresh-B/device")

		// 20 devices, one a group: 20 series a configuration.
		few, fewServed := measure(20, series/20)
		many, manyServed := measure(20, 2*series/20)
		b.ReportMetric((many-few)/series, "refresh-B/series")
		b.ReportMetric((manyServed-fewServed)/series, "served-B/series")
	}
}
