package collector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// restarted is the exporter after a restart: a new refresher and collector
// over the same client and snapshot file, with metrics of its own.
type restarted struct {
	refresher *collector.Refresher
	registry  *prometheus.Registry
}

func restart(t *testing.T, h *harness, path string) restarted {
	t.Helper()
	r, err := collector.NewRefresher(h.client, collector.Config{
		Mode: h.mode, Interval: time.Hour, Timeout: 30 * time.Second, SnapshotPath: path,
		Logger: log.NewLogfmtLogger(h.logs),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewCollector(r))
	return restarted{refresher: r, registry: reg}
}

// TestWarmStart: each new snapshot is saved; after a restart it is served at
// once with its true age, before any refresh, and an unchanged export is then
// not downloaded again.
func TestWarmStart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "snapshot.json")
	h := newHarness(t, faultTenant, collector.ModeFiles, withRefresh(func(c *collector.Config) { c.SnapshotPath = path }))
	h.mustRefresh()
	readAt := h.metric("mde_exporter_last_refresh_success_timestamp_seconds")
	devices := gatherFrom(t, h.registry, "mde_baseline_devices", deviceLabels...)

	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil || len(entries) != 1 || entries[0].Name() != "snapshot.json" {
		t.Fatalf("snapshot directory holds %v (%v), want only snapshot.json: no temporary file left", entries, err)
	}

	r := restart(t, h, path)
	if err := r.refresher.Restore(); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	diff(t, "restored mde_baseline_devices", gatherFrom(t, r.registry, "mde_baseline_devices", deviceLabels...), devices)
	restoredAt := gatherFrom(t, r.registry, "mde_exporter_last_refresh_success_timestamp_seconds")[""]
	if restoredAt != readAt {
		t.Errorf("restored last success = %v, want the time the snapshot was read, %v", restoredAt, readAt)
	}
	generated := gatherFrom(t, r.registry, "mde_exporter_snapshot_generated_timestamp_seconds")[""]
	if want := float64(h.tenant.Expected().GeneratedTime.Unix()); generated != want {
		t.Errorf("restored generated time = %v, want %v", generated, want)
	}
	if _, ran := gatherFrom(t, r.registry, "mde_exporter_refresh_success")[""]; ran {
		t.Error("mde_exporter_refresh_success is published before the restarted exporter refreshed")
	}

	downloads := h.tenant.Requests(simulator.EndpointExportFile)
	if err := r.refresher.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.tenant.Requests(simulator.EndpointExportFile); n != downloads {
		t.Errorf("%d downloads after the restart, want none: the restored export is the current one", n-downloads)
	}
}

// TestWarmStartIgnoresBadFiles: a file that cannot be served is an error and
// nothing is restored; no file at all is no error.
func TestWarmStartIgnoresBadFiles(t *testing.T) {
	t.Parallel()
	h := newHarness(t, faultTenant, collector.ModeFiles)

	valid := `{"version":1,"snapshot":{"Devices":[{"Labels":["p","c","g","Windows11","compliant"],"Value":3}],` +
		`"Records":3,"GeneratedTime":"2025-03-14T05:00:00Z","CompletedAt":"2025-03-14T05:10:00Z"}}`
	tests := []struct {
		name, content, wantErr string
	}{
		{"not JSON", "{\"version\":1,\"snap", "unexpected EOF"},
		{"another version", strings.Replace(valid, `"version":1`, `"version":2`, 1), "format version 2, want 1"},
		{"labels of another version", strings.Replace(valid, `"Windows11",`, "", 1), "inconsistent label cardinality"},
		{"a negative count", strings.Replace(valid, `"Value":3`, `"Value":-3`, 1), "negative count"},
		{"no time", strings.Replace(valid, `"CompletedAt":"2025-03-14T05:10:00Z"`, `"CompletedAt":"0001-01-01T00:00:00Z"`, 1), "implausible snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "snapshot.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}

			r := restart(t, h, path)
			err := r.refresher.Restore()
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Restore: %v, want an error about %q", err, tt.wantErr)
			}
			if r.refresher.Ready() {
				t.Error("a bad snapshot file was restored")
			}
		})
	}

	t.Run("valid", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "snapshot.json")
		if err := os.WriteFile(path, []byte(valid), 0o600); err != nil {
			t.Fatal(err)
		}
		r := restart(t, h, path)
		if err := r.refresher.Restore(); err != nil || !r.refresher.Ready() {
			t.Errorf("Restore: %v, ready %v; want the valid file restored", err, r.refresher.Ready())
		}
	})

	t.Run("no file", func(t *testing.T) {
		r := restart(t, h, filepath.Join(t.TempDir(), "snapshot.json"))
		if err := r.refresher.Restore(); err != nil || r.refresher.Ready() {
			t.Errorf("Restore: %v, ready %v; want no error and nothing restored", err, r.refresher.Ready())
		}
	})
}

// TestWarmStartRefusesAnotherTenantsSnapshot: pointing the exporter at another
// tenant must not serve the old tenant's data, however long sign-in fails.
func TestWarmStartRefusesAnotherTenantsSnapshot(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "snapshot.json")
	h := newHarness(t, faultTenant, collector.ModeFiles, withRefresh(func(c *collector.Config) {
		c.SnapshotPath, c.SnapshotTenant = path, "contoso-tenant"
	}))
	h.mustRefresh()

	other, err := collector.NewRefresher(h.client, collector.Config{
		Mode: h.mode, Interval: time.Hour, Timeout: 30 * time.Second,
		SnapshotPath: path, SnapshotTenant: "fabrikam-tenant",
	})
	if err != nil {
		t.Fatal(err)
	}
	err = other.Restore()
	if err == nil || !strings.Contains(err.Error(), "another tenant") {
		t.Errorf("Restore for another tenant = %v, want an error saying it is another tenant's data", err)
	}
	if other.Ready() {
		t.Error("another tenant's snapshot is served")
	}
}
