package collector_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// The memory test runs its parts as children of the test binary, selected by
// these variables: a simulated tenant, and one measured refresh against it.
const (
	// simulatorChildEnv holds the records of the tenant to serve.
	simulatorChildEnv = "MDE_MEMORY_SIMULATOR"
	// refreshChildEnv holds "repeat login-URL API-URL scope".
	refreshChildEnv = "MDE_MEMORY_REFRESH"
)

// TestRefreshPeakRSS checks that a files refresh needs no more memory for four
// times the records with the same devices and series: the export's files are
// listed four times over. The refresh runs in a process of its own, apart from
// the simulated tenant, so that its peak RSS (VmHWM, reset just before the
// refresh) is the exporter's alone. MDE_MEMORY_TEST_RECORDS sets the size of
// the single export (default 100,000 records).
func TestRefreshPeakRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		t.Skip("needs Linux /proc to measure peak RSS")
	}
	records := 100_000
	if v := os.Getenv("MDE_MEMORY_TEST_RECORDS"); v != "" {
		var err error
		if records, err = strconv.Atoi(v); err != nil {
			t.Fatalf("MDE_MEMORY_TEST_RECORDS=%q: %v", v, err)
		}
	}
	urls := startSimulatorChild(t, records)

	once := measureRefresh(t, urls, 1)
	four := measureRefresh(t, urls, 4)
	for _, m := range []refreshMemory{once, four} {
		t.Logf("%d records: peak RSS %.1f MiB (%.1f MiB above the %.1f MiB before the refresh), heap in use after %.1f MiB",
			m.records, mib(m.peakRSS), mib(m.peakRSS-m.rssBefore), mib(m.rssBefore), mib(m.heapAfter))
	}

	if four.records != 4*once.records {
		t.Fatalf("the repeated export counted %d records, want %d", four.records, 4*once.records)
	}
	if limit := once.peakRSS * 12 / 10; four.peakRSS > limit {
		t.Errorf("peak RSS %.1f MiB for %d records, over 120%% of the %.1f MiB for %d",
			mib(four.peakRSS), four.records, mib(once.peakRSS), once.records)
	}
}

// refreshMemory is what a measuring child reports.
type refreshMemory struct {
	records                       int64
	rssBefore, peakRSS, heapAfter uint64
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }

// startSimulatorChild serves a tenant of records from a child process until
// the test ends, and returns its login URL, API URL and scope.
func startSimulatorChild(t *testing.T, records int) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemorySimulatorChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", simulatorChildEnv, records))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the child stops at the end of its input
		_ = cmd.Wait()
	})

	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if urls, ok := strings.CutPrefix(lines.Text(), "simulator "); ok {
			go func() { // keep draining, so that the child never blocks on output
				for lines.Scan() {
				}
			}()
			return urls
		}
	}
	t.Fatal("the simulator child did not start")
	return ""
}

// TestMemorySimulatorChild is the simulated tenant of TestRefreshPeakRSS.
func TestMemorySimulatorChild(t *testing.T) {
	records, err := strconv.Atoi(os.Getenv(simulatorChildEnv))
	if err != nil {
		t.Skip("runs only as a child of TestRefreshPeakRSS")
	}
	tenant, err := simulator.Start(benchTenantOptions(records))
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()

	fmt.Printf("simulator %s %s %s\n", tenant.LoginURL(), tenant.APIURL(), tenant.Scope())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// measureRefresh runs one refresh in a child process, of the tenant at urls
// with its export files listed repeat times.
func measureRefresh(t *testing.T, urls string, repeat int) refreshMemory {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryRefreshChild$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", refreshChildEnv, repeat, urls))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("measuring child: %v\n%s", err, out)
	}

	var m refreshMemory
	for line := range strings.Lines(string(out)) {
		if _, err := fmt.Sscanf(strings.TrimSpace(line), "refresh-memory %d %d %d %d",
			&m.records, &m.rssBefore, &m.peakRSS, &m.heapAfter); err == nil {
			return m
		}
	}
	t.Fatalf("measuring child printed no result:\n%s", out)
	return m
}

// TestMemoryRefreshChild is the measured refresh of TestRefreshPeakRSS.
func TestMemoryRefreshChild(t *testing.T) {
	var repeat int
	var loginURL, apiURL, scope string
	if _, err := fmt.Sscanf(os.Getenv(refreshChildEnv), "%d %s %s %s", &repeat, &loginURL, &apiURL, &scope); err != nil {
		t.Skip("runs only as a child of TestRefreshPeakRSS")
	}
	c, err := client.New(client.Config{
		TenantID: simulator.DefaultTenantID, ClientID: simulator.DefaultClientID, ClientSecret: simulator.DefaultClientSecret,
		LoginURL: loginURL, APIURL: apiURL, Scope: scope,
		AllowHTTP: true, Limits: map[client.Endpoint]client.Limit{},
	})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("resetting the peak RSS: %v", err)
	}
	before := procStatus(t, "VmRSS")

	r, err := collector.NewRefresher(repeatedExport{Client: c, times: repeat},
		collector.Config{Mode: collector.ModeFiles, Interval: time.Hour, Timeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	peak := procStatus(t, "VmHWM")

	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	fmt.Printf("refresh-memory %d %d %d %d\n", r.Snapshot().Records, before, peak, stats.HeapInuse)
}

// procStatus reads a size in /proc/self/status, in bytes.
func procStatus(t *testing.T, name string) uint64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if value, ok := strings.CutPrefix(scanner.Text(), name+":"); ok {
			kib, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kib << 10
		}
	}
	t.Fatalf("%s not in /proc/self/status", name)
	return 0
}

// repeatedExport lists every export file several times: the same devices and
// series, times more records.
type repeatedExport struct {
	*client.Client
	times int
}

func (r repeatedExport) BaselineExportFiles(ctx context.Context) (client.ExportFiles, error) {
	files, err := r.Client.BaselineExportFiles(ctx)
	urls := files.URLs
	for range r.times - 1 {
		files.URLs = append(files.URLs, urls...)
	}
	return files, err
}
