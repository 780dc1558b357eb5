package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/mde-exporter/mde_exporter/client"
)

// Export modes: how the refresher reads the assessment.
const (
	// ModeFiles downloads the gzip JSON-lines files of the export API.
	ModeFiles = "files"
	// ModeJSON pages through the JSON API.
	ModeJSON = "json"
)

// ErrRefreshRunning is returned by Refresh when another refresh is still running.
var ErrRefreshRunning = errors.New("a refresh is already running")

// Source is where a refresh reads the tenant from; *client.Client is one.
type Source interface {
	BaselineProfiles(ctx context.Context) ([]client.Profile, error)
	BaselineConfigurations(ctx context.Context) ([]client.Configuration, error)
	BaselineExportFiles(ctx context.Context) (client.ExportFiles, error)
	DownloadBaselineExport(ctx context.Context, files client.ExportFiles, sink client.Sink) (client.Stats, error)
	BaselineAssessments(ctx context.Context, sink client.Sink) (client.Stats, error)
}

// Config sets how often and how the refresher reads the tenant.
type Config struct {
	// Mode is ModeFiles or ModeJSON.
	Mode string
	// Interval is the time between the starts of two refreshes.
	Interval time.Duration
	// Timeout bounds one refresh.
	Timeout time.Duration
	// StartDelay is the longest random wait before the first refresh, so that
	// several exporters started together do not call the API at once.
	StartDelay time.Duration
	// SnapshotPath, when set, is the file each new snapshot is saved to and
	// Restore reads at start.
	SnapshotPath string
	// SnapshotTenant names the tenant whose snapshots are saved (its tenant
	// id); a saved snapshot of another tenant is not restored.
	SnapshotTenant string
	Logger         log.Logger
}

// Refresher reads the tenant's baseline assessment in the background and keeps
// the last complete snapshot. A failed refresh never replaces it.
type Refresher struct {
	source Source
	cfg    Config
	logger log.Logger

	snapshot atomic.Pointer[Snapshot]
	running  atomic.Bool

	mu     sync.Mutex
	health health
}

// health is the refresher's own record of how its refreshes went.
type health struct {
	attempted     bool
	lastSucceeded bool
	lastDuration  time.Duration
	lastSuccessAt time.Time
	refreshes     uint64
	failures      map[string]uint64
	records       uint64
	// skipped counts records without a key (client.Stats.Skipped).
	skipped uint64
}

// NewRefresher returns a Refresher reading from source. It does nothing until
// Run or Refresh is called.
func NewRefresher(source Source, cfg Config) (*Refresher, error) {
	if cfg.Mode != ModeFiles && cfg.Mode != ModeJSON {
		return nil, fmt.Errorf("unknown export mode %q: want %q or %q", cfg.Mode, ModeFiles, ModeJSON)
	}
	if cfg.Interval <= 0 || cfg.Timeout <= 0 {
		return nil, fmt.Errorf("refresh interval and timeout must be positive, got %s and %s", cfg.Interval, cfg.Timeout)
	}

	logger := cfg.Logger
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &Refresher{
		source: source,
		cfg:    cfg,
		logger: logger,
		health: health{failures: make(map[string]uint64)},
	}, nil
}

// Snapshot returns the last complete snapshot, or nil before the first one.
func (r *Refresher) Snapshot() *Snapshot {
	return r.snapshot.Load()
}

// Ready reports whether a snapshot has been loaded.
func (r *Refresher) Ready() bool {
	return r.Snapshot() != nil
}

// Run refreshes after a random start delay and then every interval, until ctx
// is cancelled. A refresh that is still running when the next one is due makes
// that one wait; refreshes never overlap.
func (r *Refresher) Run(ctx context.Context) {
	if r.cfg.StartDelay > 0 {
		delay := rand.N(r.cfg.StartDelay)
		level.Info(r.logger).Log("msg", "waiting before the first refresh", "delay", delay)
		if !sleep(ctx, delay) {
			return
		}
	}

	ticker := time.NewTicker(r.cfg.Interval)
	defer ticker.Stop()
	for {
		_ = r.Refresh(ctx)

		select {
		case <-ctx.Done():
			level.Info(r.logger).Log("msg", "refresher stopped")
			return
		case <-ticker.C:
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Refresh reads the tenant once and, if the whole read succeeded, swaps in the
// new snapshot. Its outcome is logged and recorded for the health metrics.
func (r *Refresher) Refresh(ctx context.Context) error {
	if !r.running.CompareAndSwap(false, true) {
		level.Warn(r.logger).Log("msg", "refresh skipped: the previous one is still running; consider a longer --refresh.interval")
		return ErrRefreshRunning
	}
	defer r.running.Store(false)

	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()

	start := time.Now()
	snap, stats, err := r.read(ctx)
	duration := time.Since(start)
	r.record(start.Add(duration), duration, stats, err)

	if err != nil {
		r.logFailure(err, duration)
		return err
	}

	if snap == nil {
		level.Info(r.logger).Log("msg", "export unchanged since the last refresh, download skipped",
			"generated_time", r.Snapshot().GeneratedTime, "duration", duration)
		return nil
	}

	snap.CompletedAt = start.Add(duration)
	r.snapshot.Store(snap)
	level.Info(r.logger).Log("msg", "refresh succeeded", "records", snap.Records, "skipped", stats.Skipped,
		"series", len(snap.Devices)+len(snap.ProfileDevices), "duration", duration)

	r.save(snap)
	return nil
}

// logFailure says why a refresh failed and what is served meanwhile. A refresh
// cut short by shutdown is no incident.
func (r *Refresher) logFailure(err error, duration time.Duration) {
	reason := client.Reason(err)
	serving := "still serving the last good snapshot"
	if !r.Ready() {
		serving = "no snapshot to serve yet"
	}

	logAt := level.Error
	if reason == "canceled" {
		logAt = level.Info
	}
	logAt(r.logger).Log("msg", "refresh failed, "+serving, "reason", reason, "duration", duration, "err", err)
}

// read fetches a complete snapshot. It returns a nil snapshot and no error when
// the export has not changed since the snapshot being served. The stats count
// what was read, also when the read failed.
func (r *Refresher) read(ctx context.Context) (*Snapshot, client.Stats, error) {
	var files client.ExportFiles
	if r.cfg.Mode == ModeFiles {
		var err error
		files, err = r.source.BaselineExportFiles(ctx)
		if err != nil {
			return nil, client.Stats{}, fmt.Errorf("list export files: %w", err)
		}
		if r.unchanged(files) {
			return nil, client.Stats{}, nil
		}
	}

	profiles, configurations, err := r.names(ctx)
	if err != nil {
		return nil, client.Stats{}, err
	}

	agg := NewAggregator()
	stats, err := r.assessments(ctx, files, agg)
	if errors.Is(err, client.ErrSnapshotChanged) {
		// TODO: the download of the new export may renew expired URLs once
		// more, so such a refresh can ask for fresh URLs twice. Both calls are
		// paced within the export endpoint's limits; a per-refresh budget would
		// have to live in the client.
		level.Info(r.logger).Log("msg", "the export was regenerated during the download, starting over")
		agg = NewAggregator()
		files, err = r.source.BaselineExportFiles(ctx)
		if err == nil {
			var again client.Stats
			again, err = r.assessments(ctx, files, agg)
			stats.Records += again.Records
			stats.Skipped += again.Skipped
		}
	}
	if err != nil {
		return nil, stats, err
	}

	return agg.Snapshot(profiles, configurations, files.GeneratedTime), stats, nil
}

// unchanged reports whether files describe the snapshot already being served.
func (r *Refresher) unchanged(files client.ExportFiles) bool {
	current := r.Snapshot()
	return current != nil && !files.GeneratedTime.IsZero() && current.GeneratedTime.Equal(files.GeneratedTime)
}

func (r *Refresher) names(ctx context.Context) ([]client.Profile, []client.Configuration, error) {
	profiles, err := r.source.BaselineProfiles(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list baseline profiles: %w", err)
	}
	configurations, err := r.source.BaselineConfigurations(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list baseline configurations: %w", err)
	}
	return profiles, configurations, nil
}

func (r *Refresher) assessments(ctx context.Context, files client.ExportFiles, agg *Aggregator) (client.Stats, error) {
	if r.cfg.Mode == ModeJSON {
		stats, err := r.source.BaselineAssessments(ctx, agg)
		if err != nil {
			return stats, fmt.Errorf("page through assessments: %w", err)
		}
		return stats, nil
	}

	stats, err := r.source.DownloadBaselineExport(ctx, files, agg)
	if err != nil {
		return stats, fmt.Errorf("download export files: %w", err)
	}
	return stats, nil
}

// record notes the outcome of one refresh for the health metrics.
func (r *Refresher) record(end time.Time, duration time.Duration, stats client.Stats, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()

	h := &r.health
	h.attempted = true
	h.lastSucceeded = err == nil
	h.lastDuration = duration
	h.refreshes++
	h.records += uint64(max(stats.Records, 0))
	h.skipped += uint64(max(stats.Skipped, 0))
	if err != nil {
		h.failures[client.Reason(err)]++
		return
	}
	h.lastSuccessAt = end
}

// healthCopy returns a copy of the health record that the caller may keep.
func (r *Refresher) healthCopy() health {
	r.mu.Lock()
	defer r.mu.Unlock()

	h := r.health
	h.failures = make(map[string]uint64, len(r.health.failures))
	for reason, n := range r.health.failures {
		h.failures[reason] = n
	}
	return h
}
