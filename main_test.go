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

	"github.com/go-kit/log"

	"github.com/mde-exporter/mde_exporter/client"
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
// of the same tenant serves the last snapshot at once, with the time it was
// read, even when the API cannot be reached.
func TestSnapshotPathSurvivesRestart(t *testing.T) {
	tenant, err := simulator.Start(simulator.Options{Seed: 3, Devices: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()

	t.Setenv(secretEnvVar, simulator.DefaultClientSecret)
	path := filepath.Join(t.TempDir(), "snapshot.json")
	addr := freeAddress(t)
	logs, stop := startProgram(t, "--mde.tenant-id="+simulator.DefaultTenantID, "--mde.client-id="+simulator.DefaultClientID,
		"--mde.login-url="+tenant.LoginURL(), "--mde.api-url="+tenant.APIURL(), "--mde.scope="+tenant.Scope(),
		"--mde.allow-insecure-downloads", "--refresh.start-delay=0s",
		"--web.listen-address="+addr, "--snapshot.path="+path)
	waitFor(t, logs, "a snapshot", func() bool { return answers(addr, "/-/ready", http.StatusOK) })
	_, before := get(t, "http://"+addr+"/metrics")
	stop()

	t.Setenv(secretEnvVar, "unused-secret")
	addr = freeAddress(t)
	logs, _ = startProgram(t, "--mde.tenant-id="+simulator.DefaultTenantID, "--mde.client-id=exporter", "--refresh.start-delay=0s",
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

// TestK06K07CloudSetsHostsAndScopeTogether: one --mde.cloud picks the sign-in
// host, the API host and the token scope; overriding the API host with a
// regional one leaves the scope with the cloud, since a regional host is no
// token audience.
func TestK06K07CloudSetsHostsAndScopeTogether(t *testing.T) {
	t.Setenv(secretEnvVar, "a-secret")
	tests := []struct {
		name                  string
		args                  []string
		login, api, wantScope string
	}{
		{"gcc-high", []string{"--mde.cloud=gcc-high"},
			"https://login.microsoftonline.us", "https://api-gov.securitycenter.microsoft.us", "https://api-gov.securitycenter.microsoft.us/.default"},
		{"commercial with a regional API host", []string{"--mde.api-url=https://api-uk.securitycenter.microsoft.com"},
			"https://login.microsoftonline.com", "https://api-uk.securitycenter.microsoft.com", "https://api.securitycenter.microsoft.com/.default"},
		{"dod with its login overridden", []string{"--mde.cloud=dod", "--mde.login-url=https://login.example.internal"},
			"https://login.example.internal", "https://api-gov.securitycenter.microsoft.us", "https://api-gov.securitycenter.microsoft.us/.default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _, err := parseFlags(append([]string{"--mde.tenant-id=contoso", "--mde.client-id=exporter"}, tt.args...))
			if err != nil {
				t.Fatal(err)
			}
			cfg, _, err := o.clientConfig(log.NewNopLogger())
			if err != nil {
				t.Fatal(err)
			}
			if cfg.LoginURL != tt.login || cfg.APIURL != tt.api || cfg.Scope != tt.wantScope {
				t.Errorf("login %s, API %s, scope %s; want %s, %s, %s", cfg.LoginURL, cfg.APIURL, cfg.Scope, tt.login, tt.api, tt.wantScope)
			}
		})
	}
}

func TestFlagValuesAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{"--mde.sas-valid-hours=9"},
		{"--mde.page-size=0"},
		{"--mde.page-size=300000"},
		{"--mde.max-retries=-1"},
		{"--mde.download-workers=-2"},
		{"--demo.devices=0"},
	} {
		if _, _, _, err := parseFlags(args); err == nil {
			t.Errorf("%v accepted, want an error naming the flag", args)
		} else if !strings.Contains(err.Error(), strings.SplitN(args[0], "=", 2)[0]) {
			t.Errorf("%v: error %q does not name the flag", args, err)
		}
	}
}

// TestDemoSnapshotsAreNotShared: every simulated tenant has the same tenant id,
// so a saved demo snapshot is bound to the demo's seed and size as well.
func TestDemoSnapshotsAreNotShared(t *testing.T) {
	name := func(args ...string) string {
		o, _, _, err := parseFlags(args)
		if err != nil {
			t.Fatal(err)
		}
		return o.snapshotTenant(client.Config{TenantID: simulator.DefaultTenantID})
	}

	if name("--demo") == name("--demo", "--demo.seed=2") || name("--demo") == name("--demo", "--demo.devices=300") {
		t.Error("demo tenants of different seeds or sizes share a snapshot name")
	}
	if got := name("--mde.tenant-id=contoso"); got != simulator.DefaultTenantID {
		t.Errorf("a real tenant's snapshot is named %q, want its tenant id", got)
	}
}
