package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mde-exporter/mde_exporter/simulator"
)

// lockedBuffer collects the program's log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestDemoServesMetrics runs the whole program in demo mode, as the README's
// first command does, and reads its endpoints like Prometheus and a user would.
func TestDemoServesMetrics(t *testing.T) {
	addr := freeAddress(t)
	logs := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--demo", "--demo.devices=150", "--web.listen-address=" + addr, "--log.level=debug"}, logs)
	}()

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 30s; logs:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	status, metrics := get(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	for _, want := range []string{
		`mde_baseline_devices{`,
		`mde_baseline_profile_devices{`,
		`mde_baseline_profile_info{`,
		`mde_baseline_configuration_info{`,
		"mde_exporter_refresh_success 1",
		"mde_exporter_snapshot_loaded 1",
		`mde_exporter_build_info{`,
		`mde_exporter_api_requests_total{code="200",endpoint="baseline_export"}`,
		"go_goroutines ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	if status, body := get(t, base+"/-/healthy"); status != http.StatusOK {
		t.Errorf("GET /-/healthy: %d %s", status, body)
	}
	if status, body := get(t, base+"/"); status != http.StatusOK || !strings.Contains(body, "/metrics") {
		t.Errorf("GET /: %d, want the landing page linking /metrics", status)
	}

	cancel()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit code %d after shutdown, want 0", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not shut down within 10s of the signal")
	}

	if strings.Contains(logs.String(), simulator.DefaultClientSecret) {
		t.Error("the client secret appears in the debug log")
	}
	if strings.Contains(logs.String(), "sig=") && !strings.Contains(logs.String(), "sig=REDACTED") {
		t.Error("a SAS signature appears in the debug log")
	}
}

func TestMissingCredentialsAreAClearError(t *testing.T) {
	t.Setenv(secretEnvVar, "")
	logs := &lockedBuffer{}
	code := run(context.Background(), []string{"--mde.tenant-id=contoso", "--web.listen-address=" + freeAddress(t)}, logs)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if !strings.Contains(logs.String(), "--mde.client-id") {
		t.Errorf("the error does not name the missing settings:\n%s", logs.String())
	}
}

func TestRateLimitFlag(t *testing.T) {
	limits, err := parseRateLimits([]string{"baseline_export=2/10"})
	if err != nil {
		t.Fatal(err)
	}
	if got := limits["baseline_export"]; got.PerMinute != 2 || got.PerHour != 10 {
		t.Errorf("baseline_export limit = %+v, want 2/min 10/h", got)
	}
	if got := limits["baseline_assessments"]; got.PerMinute != 30 || got.PerHour != 1000 {
		t.Errorf("baseline_assessments limit = %+v, want the documented 30/min 1000/h", got)
	}

	for _, bad := range []string{"baseline_export", "nowhere=1/2", "baseline_export=fast"} {
		if _, err := parseRateLimits([]string{bad}); err == nil {
			t.Errorf("%q accepted, want an error", bad)
		}
	}
}

// TestSnapshotPathSurvivesRestart: with --snapshot.path, a restarted exporter
// serves the last snapshot at once, with the time it was read, even when the
// API cannot be reached.
func TestSnapshotPathSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snapshot.json")
	addr := freeAddress(t)
	logs, stop := startProgram(t, "--demo", "--demo.devices=30", "--web.listen-address="+addr, "--snapshot.path="+path)
	waitFor(t, logs, "a snapshot", func() bool { return answers(addr, "/-/ready", http.StatusOK) })
	_, before := get(t, "http://"+addr+"/metrics")
	stop()

	t.Setenv(secretEnvVar, "unused-secret")
	addr = freeAddress(t)
	logs, _ = startProgram(t, "--mde.tenant-id=contoso", "--mde.client-id=exporter", "--refresh.start-delay=0s",
		"--mde.login-url=http://127.0.0.1:1", "--mde.api-url=http://127.0.0.1:1",
		"--web.listen-address="+addr, "--snapshot.path="+path)
	waitFor(t, logs, "the web server", func() bool { return answers(addr, "/-/healthy", http.StatusOK) })

	if status, body := get(t, "http://"+addr+"/-/ready"); status != http.StatusOK || !strings.Contains(body, "serving the snapshot read at") {
		t.Errorf("GET /-/ready after the restart: %d %q, want 200 from the restored snapshot", status, body)
	}
	_, after := get(t, "http://"+addr+"/metrics")
	for _, name := range []string{"mde_exporter_last_refresh_success_timestamp_seconds", "mde_exporter_snapshot_records", "mde_exporter_snapshot_loaded"} {
		if want, got := sampleLine(before, name), sampleLine(after, name); got == "" || got != want {
			t.Errorf("after the restart %q, want %q as before it", got, want)
		}
	}
}

// sampleLine returns the line of the label-less sample name in an exposition.
func sampleLine(exposition, name string) string {
	for line := range strings.Lines(exposition) {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// answers reports whether GET path on addr answers status.
func answers(addr, path string, status int) bool {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == status
}
