package collector_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
)

// The scrape benchmarks serve a snapshot of about 100,000 series through
// promhttp, as the exporter does, to an HTTP client that asks for gzip like
// Prometheus and does not decompress.

// seriesSource is a tenant with one record for each of profiles × configurations
// × groups: as many mde_baseline_devices series, and the names of all of them.
type seriesSource struct {
	profiles, configurations, groups int
}

func (s seriesSource) BaselineProfiles(context.Context) ([]client.Profile, error) {
	var out []client.Profile
	for p := range s.profiles {
		out = append(out, client.Profile{ID: s.profileID(p), Name: fmt.Sprintf("Profile %d", p), Benchmark: "CIS", Version: "3.0.0",
			OperatingSystem: "Windows Server", OperatingSystemVersion: "2022", ComplianceLevel: "Level 1", Status: true})
	}
	return out, nil
}

func (s seriesSource) BaselineConfigurations(context.Context) ([]client.Configuration, error) {
	var out []client.Configuration
	for c := range s.configurations {
		id := s.configurationID(c)
		out = append(out, client.Configuration{ID: id, UniqueID: "CIS_3.0.0-windows_server_2022_" + id, BenchmarkName: "CIS",
			BenchmarkVersion: "3.0.0-windows_server_2022", Name: "Setting " + id, Category: "Security Options", CCE: "CCE-33779-8"})
	}
	return out, nil
}

func (s seriesSource) BaselineExportFiles(context.Context) (client.ExportFiles, error) {
	return client.ExportFiles{URLs: []string{"https://blob.invalid/part-00000.json.gz"}, GeneratedTime: time.Now()}, nil
}

func (s seriesSource) DownloadBaselineExport(_ context.Context, _ client.ExportFiles, sink client.Sink) (client.Stats, error) {
	part := sink.BeginPart()
	var records int64
	for p := range s.profiles {
		for g := range s.groups {
			for c := range s.configurations {
				part.Add(&client.Assessment{
					DeviceID:        fmt.Appendf(nil, "%040x", p*s.groups+g),
					ProfileID:       []byte(s.profileID(p)),
					ConfigurationID: []byte(s.configurationID(c)),
					RbacGroupName:   fmt.Appendf(nil, "Group %d", g),
					OSPlatform:      []byte("WindowsServer2022"),
					IsApplicable:    true,
					IsCompliant:     c%3 > 0,
				})
				records++
			}
		}
	}
	sink.CommitPart(part)
	return client.Stats{Records: records, Parts: 1}, nil
}

func (s seriesSource) BaselineAssessments(ctx context.Context, sink client.Sink) (client.Stats, error) {
	return s.DownloadBaselineExport(ctx, client.ExportFiles{}, sink)
}

func (s seriesSource) profileID(p int) string {
	return fmt.Sprintf("%08x-e83e-485b-a5ec-4a429412e734", p)
}

func (s seriesSource) configurationID(c int) string {
	return fmt.Sprintf("18.9.%d.%d", c/10, c%10)
}

// scrapeServer serves the metrics of a snapshot of about 100,000 series.
func scrapeServer(b *testing.B) *httptest.Server {
	b.Helper()
	source := seriesSource{profiles: 5, configurations: 1000, groups: 20}
	r, err := collector.NewRefresher(source, collector.Config{Mode: collector.ModeFiles, Interval: time.Hour, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewCollector(r))
	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	b.Cleanup(server.Close)

	if n := len(r.Snapshot().Devices) + len(r.Snapshot().ProfileDevices) + len(r.Snapshot().ConfigurationInfo); n < 100_000 {
		b.Fatalf("the snapshot has %d series, want 100,000", n)
	}
	return server
}

// scraper fetches /metrics as Prometheus does: gzip, not decompressed here.
type scraper struct {
	http *http.Client
	url  string
}

func newScraper(server *httptest.Server) scraper {
	return scraper{http: &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 100}}, url: server.URL}
}

// scrape returns the size of the answer and how long it took.
func (s scraper) scrape(b *testing.B) (int64, time.Duration) {
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, s.url, nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.http.Do(req)
	if err != nil {
		b.Error(err)
		return 0, 0
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Errorf("scrape: %d %v", resp.StatusCode, err)
	}
	return n, time.Since(start)
}

// latencies collects scrape durations.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	sort.Slice(l.all, func(i, j int) bool { return l.all[i] < l.all[j] })
	quantile := func(q float64) float64 { return float64(l.all[int(q*float64(len(l.all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(quantile(0.5), "p50-ms")
	b.ReportMetric(quantile(0.99), "p99-ms")
	b.ReportMetric(quantile(1), "max-ms")
}

// BenchmarkScrape100kSeries measures one scrape at a time of a snapshot of about
// 100,000 series.
func BenchmarkScrape100kSeries(b *testing.B) {
	s := newScraper(scrapeServer(b))
	var l latencies
	var size int64
	b.ReportAllocs()
	for b.Loop() {
		n, d := s.scrape(b)
		size = n
		l.add(d)
	}
	l.report(b)
	b.ReportMetric(float64(size)/(1<<20), "gzip-MB")
}

// BenchmarkScrape100kSeriesDuringRefresh measures the same scrapes while the
// exporter refreshes a large tenant (MDE_BENCH_RECORDS) over and over.
func BenchmarkScrape100kSeriesDuringRefresh(b *testing.B) {
	s := newScraper(scrapeServer(b))
	_, c := benchTenant(b, benchTenantOptions(benchRecords(b)))

	ctx, cancel := context.WithCancel(context.Background())
	var refreshes atomic.Int64
	var background sync.WaitGroup
	background.Go(func() {
		for ctx.Err() == nil {
			r, err := collector.NewRefresher(c, collector.Config{Mode: collector.ModeFiles, Interval: time.Hour, Timeout: 10 * time.Minute})
			if err == nil && r.Refresh(ctx) == nil {
				refreshes.Add(1)
			}
		}
	})
	time.Sleep(200 * time.Millisecond) // let the first refresh get going

	var l latencies
	for b.Loop() {
		_, d := s.scrape(b)
		l.add(d)
	}
	cancel()
	background.Wait()

	l.report(b)
	b.ReportMetric(float64(refreshes.Load()), "refreshes")
}

// BenchmarkScrape100kSeries50Concurrent measures 50 scrapers at once, without
// a refresh running.
func BenchmarkScrape100kSeries50Concurrent(b *testing.B) {
	s := newScraper(scrapeServer(b))
	var l latencies
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, d := s.scrape(b)
			l.add(d)
		}
	})
	l.report(b)
}
