package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// benchConfigurations is the number of configurations each device is assessed
// against in the benchmark tenants: a few hundred, as in a real baseline.
const benchConfigurations = 200

// benchRecords is the size of the benchmark's export: MDE_BENCH_RECORDS, or
// 2,000,000 records.
func benchRecords(b *testing.B) int {
	records := 2_000_000
	if v := os.Getenv("MDE_BENCH_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < benchConfigurations {
			b.Fatalf("MDE_BENCH_RECORDS=%q: want a number of records of at least %d", v, benchConfigurations)
		}
		records = n
	}
	return records
}

// benchTenantOptions describes a large, realistic tenant of about records
// records: five profiles of 200 configurations, each device assessed against
// one of them, 20 RBAC groups, lines shuffled within each file.
func benchTenantOptions(records int) simulator.Options {
	return simulator.Options{
		Seed:                     1,
		Devices:                  max(records/benchConfigurations, 1),
		Profiles:                 5,
		ConfigurationsPerProfile: benchConfigurations,
		RbacGroups:               20,
		Shuffle:                  true,
	}
}

// benchTenant starts a simulated tenant and a client for it whose requests are
// not paced, so that refreshes can follow each other.
func benchTenant(tb testing.TB, opts simulator.Options) (*simulator.Tenant, *client.Client) {
	tb.Helper()
	return startTenantWith(tb, opts, func(cfg *client.Config) { cfg.Limits = map[client.Endpoint]client.Limit{} })
}

// BenchmarkExportFiles measures a whole files-mode refresh of a large tenant
// (listing, download over loopback HTTP, decompression, decoding, aggregation,
// snapshot) against decompressing the same files alone with as many goroutines
// as the refresh downloads files in parallel. The two alternate, so that both
// see the same machine. Unless MDE_BENCH_JQ=0, it then times bench/jq-peer.sh
// (gzip -dc | jq | awk) over the first files, and checks that it counts what
// the exporter counts.
func BenchmarkExportFiles(b *testing.B) {
	tenant, c := benchTenant(b, benchTenantOptions(benchRecords(b)))
	records := tenant.Expected().Records
	files := downloadExport(b, c)
	workers := runtime.GOMAXPROCS(0) // the client's default DownloadWorkers

	var refreshTime, gunzipTime time.Duration
	var uncompressed int64
	var series int
	for b.Loop() {
		runtime.GC()
		start := time.Now()
		snap := refresh(b, c)
		refreshTime += time.Since(start)
		if snap.Records != int64(records) {
			b.Fatalf("refresh counted %d records, want %d", snap.Records, records)
		}
		series = len(snap.Devices) + len(snap.ProfileDevices)

		b.StopTimer()
		start = time.Now()
		uncompressed = gunzipAll(b, files, workers)
		gunzipTime += time.Since(start)
		b.StartTimer()
	}

	refreshRate := float64(b.N) * float64(records) / refreshTime.Seconds()
	gunzipRate := float64(b.N) * float64(records) / gunzipTime.Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(refreshTime.Seconds()/float64(b.N), "s/refresh")
	b.ReportMetric(refreshRate, "records/s")
	b.ReportMetric(refreshRate*float64(uncompressed)/float64(records)/1e6, "MB/s")
	b.ReportMetric(gunzipRate, "gunzip-records/s")
	b.ReportMetric(refreshRate/gunzipRate, "gunzip-ratio")
	b.ReportMetric(float64(peakLiveHeap(b, c))/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(series), "series")

	if jqRate, ok := jqPeerRate(b, c, files); ok {
		b.ReportMetric(jqRate, "jq-records/s")
		b.ReportMetric(refreshRate/jqRate, "jq-ratio")
	}
}

// jqPeerRecords is about how many records the jq pipeline reads: enough for a
// steady rate, few enough to take seconds at its speed.
const jqPeerRecords = 300_000

// jqPeerRate runs bench/jq-peer.sh over the first export files, checks that it
// counts what the exporter counts from them, and returns its records/s. It
// reports false when jq, gzip or awk is missing or MDE_BENCH_JQ=0.
func jqPeerRate(b *testing.B, c *client.Client, files [][]byte) (float64, bool) {
	if os.Getenv("MDE_BENCH_JQ") == "0" {
		return 0, false
	}
	for _, tool := range []string{"jq", "gzip", "awk", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Logf("no %s: the jq peer is skipped", tool)
			return 0, false
		}
	}

	list, err := c.BaselineExportFiles(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var paths, urls []string
	for i, file := range files {
		if len(file) == 0 {
			continue
		}
		path := filepath.Join(dir, fmt.Sprintf("part-%05d.json.gz", i))
		if err := os.WriteFile(path, file, 0o600); err != nil {
			b.Fatal(err)
		}
		paths, urls = append(paths, path), append(urls, list.URLs[i])
		if len(paths)*benchTenantOptions(0).WithDefaults().PartRecords >= jqPeerRecords {
			break
		}
	}

	out, err := exec.Command("bash", append([]string{"../bench/jq-peer.sh"}, paths...)...).Output()
	if err != nil {
		b.Fatalf("jq peer: %v", err)
	}
	var peer struct {
		Records       int `json:"records"`
		Series        int `json:"series"`
		ProfileSeries int `json:"profile_series"`
	}
	var timed int
	var seconds float64
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 2 || json.Unmarshal([]byte(lines[len(lines)-2]), &peer) != nil {
		b.Fatalf("jq peer printed %q", out)
	}
	if _, err := fmt.Sscan(lines[len(lines)-1], &timed, &seconds); err != nil || timed != peer.Records {
		b.Fatalf("jq peer printed %q", out)
	}

	agg := collector.NewAggregator()
	if _, err := c.DownloadBaselineExport(context.Background(), client.ExportFiles{URLs: urls}, agg); err != nil {
		b.Fatal(err)
	}
	snap := agg.Snapshot(nil, nil, time.Time{})
	if int(snap.Records) != peer.Records || len(snap.Devices) != peer.Series || len(snap.ProfileDevices) != peer.ProfileSeries {
		b.Errorf("jq peer counted %+v; the exporter %d records, %d series, %d profile series",
			peer, snap.Records, len(snap.Devices), len(snap.ProfileDevices))
	}
	return float64(peer.Records) / seconds, true
}

// refresh runs one files-mode refresh and returns its snapshot.
func refresh(tb testing.TB, source collector.Source) *collector.Snapshot {
	tb.Helper()
	r, err := collector.NewRefresher(source, collector.Config{Mode: collector.ModeFiles, Interval: time.Hour, Timeout: 30 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return r.Snapshot()
}

// peakLiveHeap runs one more refresh, untimed, collecting garbage over and
// over meanwhile, and returns the most heap found live above what was live
// before. Measuring live memory keeps out the garbage that the collector lets
// pile up in proportion to the simulated tenant, which this process holds too.
func peakLiveHeap(tb testing.TB, c *client.Client) uint64 {
	runtime.GC()
	before := liveHeap()

	done := make(chan struct{})
	var peak uint64
	var collecting sync.WaitGroup
	collecting.Go(func() {
		for {
			runtime.GC()
			peak = max(peak, liveHeap())
			select {
			case <-done:
				return
			default:
			}
		}
	})

	refresh(tb, c)
	close(done)
	collecting.Wait()
	return max(peak, before) - before
}

// liveHeap is the heap found live by the last garbage collection.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// downloadExport downloads every export file as it is, compressed.
func downloadExport(tb testing.TB, c *client.Client) [][]byte {
	tb.Helper()
	list, err := c.BaselineExportFiles(context.Background())
	if err != nil {
		tb.Fatal(err)
	}

	files := make([][]byte, 0, len(list.URLs))
	for _, u := range list.URLs {
		resp, err := http.Get(u)
		if err != nil {
			tb.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			tb.Fatalf("download: %d %v", resp.StatusCode, err)
		}
		files = append(files, body)
	}
	return files
}

// gunzipAll decompresses files with workers goroutines, one file at a time each,
// and returns the number of uncompressed bytes.
func gunzipAll(tb testing.TB, files [][]byte, workers int) int64 {
	var next atomic.Int64
	var total atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var zr gzip.Reader
			for {
				i := int(next.Add(1) - 1)
				if i >= len(files) {
					return
				}
				if len(files[i]) == 0 {
					continue
				}
				if err := zr.Reset(bytes.NewReader(files[i])); err != nil {
					tb.Error(err)
					return
				}
				n, err := zr.WriteTo(io.Discard)
				if err != nil && !errors.Is(err, io.EOF) {
					tb.Error(err)
					return
				}
				total.Add(n)
			}
		})
	}
	wg.Wait()
	return total.Load()
}
