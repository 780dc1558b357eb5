package collector

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// snapshotFileVersion is the format of the snapshot file. A file of another
// version is ignored, so a change of format only costs one cold start.
const snapshotFileVersion = 1

// snapshotFile is what the snapshot file holds, as JSON.
type snapshotFile struct {
	Version int `json:"version"`
	// Tenant is Config.SnapshotTenant of the run that wrote the file.
	Tenant   string    `json:"tenant"`
	Snapshot *Snapshot `json:"snapshot"`
}

// Restore serves the snapshot saved at Config.SnapshotPath by an earlier run
// until a refresh replaces it, so that a restart does not blank dashboards. It
// keeps its times: the last successful refresh is when that snapshot was read,
// so its true age shows. Without a path or a file it does nothing; a file that
// cannot be read or does not fit this version of the exporter is an error, and
// nothing is restored.
func (r *Refresher) Restore() error {
	if r.cfg.SnapshotPath == "" {
		return nil
	}

	snap, err := loadSnapshot(r.cfg.SnapshotPath, r.cfg.SnapshotTenant)
	if errors.Is(err, fs.ErrNotExist) {
		level.Info(r.logger).Log("msg", "no saved snapshot to restore", "path", r.cfg.SnapshotPath)
		return nil
	}
	if err != nil {
		return err
	}

	if !r.snapshot.CompareAndSwap(nil, snap) {
		return nil // a refresh was quicker
	}
	r.mu.Lock()
	if r.health.lastSuccessAt.IsZero() {
		r.health.lastSuccessAt = snap.CompletedAt
	}
	r.mu.Unlock()

	level.Info(r.logger).Log("msg", "snapshot restored", "path", r.cfg.SnapshotPath, "records", snap.Records,
		"read_at", snap.CompletedAt, "generated_time", snap.GeneratedTime)
	return nil
}

// save writes snap to Config.SnapshotPath, if set. A failure is logged: it
// costs the next start its warm snapshot, not this refresh its result.
func (r *Refresher) save(snap *Snapshot) {
	if r.cfg.SnapshotPath == "" {
		return
	}
	if err := saveSnapshot(r.cfg.SnapshotPath, r.cfg.SnapshotTenant, snap); err != nil {
		level.Warn(r.logger).Log("msg", "could not save the snapshot for the next start", "path", r.cfg.SnapshotPath, "err", err)
	}
}

// saveSnapshot writes snap to path atomically: to a temporary file in the same
// directory, synced, then renamed over path. A crash leaves the old file or the
// new one, never half of one.
func saveSnapshot(path, tenant string, snap *Snapshot) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed

	w := bufio.NewWriter(tmp)
	err = json.NewEncoder(w).Encode(snapshotFile{Version: snapshotFileVersion, Tenant: tenant, Snapshot: snap})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("save snapshot to %s: %w", tmp.Name(), err)
	}

	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	return nil
}

// loadSnapshot reads and checks a file written by saveSnapshot for tenant.
func loadSnapshot(path, tenant string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	defer f.Close()

	var file snapshotFile
	if err := json.NewDecoder(bufio.NewReader(f)).Decode(&file); err != nil {
		return nil, fmt.Errorf("restore snapshot from %s: %w", path, err)
	}
	if file.Version != snapshotFileVersion || file.Snapshot == nil {
		return nil, fmt.Errorf("restore snapshot from %s: format version %d, want %d", path, file.Version, snapshotFileVersion)
	}
	if file.Tenant != tenant {
		return nil, fmt.Errorf("restore snapshot from %s: it holds another tenant's data (%q, not %q)", path, file.Tenant, tenant)
	}
	if err := file.Snapshot.validate(); err != nil {
		return nil, fmt.Errorf("restore snapshot from %s: %w", path, err)
	}

	return file.Snapshot, nil
}

// validate checks that every series of s can be served: each has the labels of
// its metric and a count for a value. The Descs are the reference, so a file
// written for other labels is refused.
func (s *Snapshot) validate() error {
	if s.CompletedAt.IsZero() || s.CompletedAt.After(time.Now().Add(time.Hour)) || s.Records < 0 {
		return fmt.Errorf("implausible snapshot: read at %s, %d records", s.CompletedAt, s.Records)
	}

	for _, set := range []struct {
		desc   *prometheus.Desc
		series []Series
	}{{devicesDesc, s.Devices}, {profileDevicesDesc, s.ProfileDevices}} {
		for _, series := range set.series {
			if series.Value < 0 {
				return fmt.Errorf("negative count %v for %v", series.Value, series.Labels)
			}
			if _, err := prometheus.NewConstMetric(set.desc, prometheus.GaugeValue, series.Value, series.Labels...); err != nil {
				return err
			}
		}
	}

	for _, set := range []struct {
		desc   *prometheus.Desc
		labels [][]string
	}{{profileInfoDesc, s.ProfileInfo}, {configurationInfoDesc, s.ConfigurationInfo}} {
		for _, labels := range set.labels {
			if _, err := prometheus.NewConstMetric(set.desc, prometheus.GaugeValue, 1, labels...); err != nil {
				return err
			}
		}
	}
	return nil
}
