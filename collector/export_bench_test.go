package collector_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
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
	tenant, err := simulator.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tenant.Close)

	opts = opts.WithDefaults()
	c, err := client.New(client.Config{
		TenantID:     opts.TenantID,
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		LoginURL:     tenant.LoginURL(),
		APIURL:       tenant.APIURL(),
		Scope:        tenant.Scope(),
		AllowHTTP:    true,
		Limits:       map[client.Endpoint]client.Limit{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return tenant, c
}

// BenchmarkExportFiles measures a whole files-mode refresh of a large tenant
// (listing, download over loopback HTTP, decompression, decoding, aggregation,
// snapshot) against decompressing the same files alone with the same number of
// goroutines, in alternation, so that both see the same machine.
func BenchmarkExportFiles(b *testing.B) {
	tenant, c := benchTenant(b, benchTenantOptions(benchRecords(b)))
	expected := tenant.Expected()
	files := downloadExport(b, c)
	workers := runtime.GOMAXPROCS(0)

	var refreshTime, gunzipTime time.Duration
	var peakHeap uint64
	var uncompressed int64
	for b.Loop() {
		start := time.Now()
		snap, peak := refreshMeasuringHeap(b, c)
		refreshTime += time.Since(start)
		peakHeap = max(peakHeap, peak)
		if snap.Records != int64(expected.Records) {
			b.Fatalf("refresh counted %d records, want %d", snap.Records, expected.Records)
		}

		b.StopTimer()
		start = time.Now()
		uncompressed = gunzipAll(b, files, workers)
		gunzipTime += time.Since(start)
		b.StartTimer()
	}

	refreshRate := float64(b.N) * float64(expected.Records) / refreshTime.Seconds()
	gunzipRate := float64(b.N) * float64(expected.Records) / gunzipTime.Seconds()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(refreshTime.Seconds()/float64(b.N), "s/refresh")
	b.ReportMetric(refreshRate, "records/s")
	b.ReportMetric(refreshRate*float64(uncompressed)/float64(expected.Records)/1e6, "MB/s")
	b.ReportMetric(gunzipRate, "gunzip-records/s")
	b.ReportMetric(refreshRate/gunzipRate, "gunzip-ratio")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MB")
}

// refreshMeasuringHeap runs one files-mode refresh and returns its snapshot and
// the peak of the heap above what was live before it started.
func refreshMeasuringHeap(tb testing.TB, c *client.Client) (*collector.Snapshot, uint64) {
	runtime.GC()
	before := heapBytes()

	stop := make(chan struct{})
	var peak atomic.Uint64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		ticker := time.NewTicker(2 * time.Millisecond)
		defer ticker.Stop()
		for {
			peak.Store(max(peak.Load(), heapBytes()))
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
		}
	})

	r, err := collector.NewRefresher(c, collector.Config{Mode: collector.ModeFiles, Interval: time.Hour, Timeout: 10 * time.Minute})
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		tb.Fatal(err)
	}
	close(stop)
	sampler.Wait()

	return r.Snapshot(), max(peak.Load(), before) - before
}

// heapBytes is the memory taken by heap objects, live or not yet swept.
func heapBytes() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
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
