package collector_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

// startTenant starts a simulated tenant and returns a client for it.
func startTenant(t *testing.T, opts simulator.Options) (*simulator.Tenant, *client.Client) {
	t.Helper()
	return startTenantWith(t, opts, func(cfg *client.Config) { cfg.PageSize = 500 })
}

// startTenantWith starts a simulated tenant and returns a client for it whose
// configuration configure may change.
func startTenantWith(tb testing.TB, opts simulator.Options, configure func(*client.Config)) (*simulator.Tenant, *client.Client) {
	tb.Helper()
	tenant, err := simulator.Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(tenant.Close)

	opts = opts.WithDefaults()
	cfg := client.Config{
		TenantID:     opts.TenantID,
		ClientID:     opts.ClientID,
		ClientSecret: opts.ClientSecret,
		LoginURL:     tenant.LoginURL(),
		APIURL:       tenant.APIURL(),
		Scope:        tenant.Scope(),
		AllowHTTP:    true,
	}
	configure(&cfg)

	c, err := client.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return tenant, c
}

// refreshOnce runs one refresh in mode and returns the refresher.
func refreshOnce(t *testing.T, source collector.Source, mode string) *collector.Refresher {
	t.Helper()
	r, err := collector.NewRefresher(source, collector.Config{Mode: mode, Interval: time.Hour, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background()); err != nil {
		t.Fatalf("%s refresh: %v", mode, err)
	}
	return r
}

// gather returns the samples of one metric family, keyed by their labels in
// the order given.
func gather(t *testing.T, c prometheus.Collector, name string, labels ...string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	return gatherFrom(t, reg, name, labels...)
}

func gatherFrom(t *testing.T, g prometheus.Gatherer, name string, labels ...string) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}

	out := make(map[string]float64)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			out[labelKey(m, labels)] = sampleValue(m)
		}
	}
	return out
}

func sampleValue(m *dto.Metric) float64 {
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func labelKey(m *dto.Metric, names []string) string {
	values := make([]string, len(names))
	for i, n := range names {
		for _, l := range m.GetLabel() {
			if l.GetName() == n {
				values[i] = l.GetValue()
			}
		}
	}
	return strings.Join(values, "|")
}

func expectedDevices(e simulator.Expected) map[string]float64 {
	out := make(map[string]float64, len(e.Devices))
	for k, n := range e.Devices {
		out[strings.Join([]string{k.ProfileID, k.ConfigurationID, k.RbacGroup, k.OSPlatform, k.Status}, "|")] = float64(n)
	}
	return out
}

func expectedProfileDevices(e simulator.Expected) map[string]float64 {
	out := make(map[string]float64, len(e.ProfileDevices))
	for k, n := range e.ProfileDevices {
		out[strings.Join([]string{k.ProfileID, k.RbacGroup, k.OSPlatform, k.Status}, "|")] = float64(n)
	}
	return out
}

func diff(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	var problems []string
	for k, v := range want {
		if got[k] != v {
			problems = append(problems, fmt.Sprintf("%s{%s} = %v, want %v", name, k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, fmt.Sprintf("%s{%s} = %v, want no such series", name, k, v))
		}
	}
	sort.Strings(problems)
	if len(problems) > 10 {
		problems = append(problems[:10], fmt.Sprintf("... and %d more", len(problems)-10))
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// deviceLabels and profileLabels are the label names of the two count metrics,
// in the order of the keys of expectedDevices and expectedProfileDevices.
var (
	deviceLabels  = []string{"profile_id", "configuration_id", "rbac_group", "os_platform", "status"}
	profileLabels = []string{"profile_id", "rbac_group", "os_platform", "status"}
)

// tenantClock is the simulated tenant's clock: the real time plus an offset a
// test can move forward, to expire tokens and download URLs.
type tenantClock struct {
	offset atomic.Int64
}

func (c *tenantClock) Now() time.Time {
	return time.Now().Add(time.Duration(c.offset.Load()))
}

func (c *tenantClock) Advance(d time.Duration) {
	c.offset.Add(int64(d))
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness runs the exporter's refresh path against a simulated tenant over real
// HTTP: the client, a refresher and the collector, with every metric of the
// exporter in one registry and every log line, debug included, in logs.
type harness struct {
	t    *testing.T
	mode string
	// opts are the tenant's options as given, so that zero still means the
	// default and a negative count none when they are published again.
	opts      simulator.Options
	tenant    *simulator.Tenant
	clock     *tenantClock
	client    *client.Client
	refresher *collector.Refresher
	registry  *prometheus.Registry
	logs      *syncBuffer
}

// harnessConfig is what options may change before the harness starts.
type harnessConfig struct {
	client  client.Config
	refresh collector.Config
	// source wraps the client, to act on the tenant while it is being read.
	source func(h *harness) collector.Source
}

type option func(*harnessConfig)

func withClient(configure func(*client.Config)) option {
	return func(c *harnessConfig) { configure(&c.client) }
}

func withRefresh(configure func(*collector.Config)) option {
	return func(c *harnessConfig) { configure(&c.refresh) }
}

func withSource(source func(h *harness) collector.Source) option {
	return func(c *harnessConfig) { c.source = source }
}

// newHarness starts a tenant for opts and an exporter reading it in mode. The
// client retries twice, waits at most 10s for an answer and does not pace its
// requests; refreshes have a deadline of 30s. Options change that.
func newHarness(t *testing.T, opts simulator.Options, mode string, options ...option) *harness {
	t.Helper()
	h := &harness{t: t, mode: mode, clock: &tenantClock{}, registry: prometheus.NewPedanticRegistry(), logs: &syncBuffer{}}
	opts.Now = h.clock.Now
	h.opts = opts
	credentials := opts.WithDefaults()

	tenant, err := simulator.Start(h.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tenant.Close)
	h.tenant = tenant

	logger := log.NewLogfmtLogger(h.logs)
	cfg := harnessConfig{
		client: client.Config{
			TenantID:       credentials.TenantID,
			ClientID:       credentials.ClientID,
			ClientSecret:   credentials.ClientSecret,
			LoginURL:       tenant.LoginURL(),
			APIURL:         tenant.APIURL(),
			Scope:          tenant.Scope(),
			PageSize:       500,
			AllowHTTP:      true,
			MaxRetries:     2,
			RequestTimeout: 10 * time.Second,
			Limits:         map[client.Endpoint]client.Limit{},
			Logger:         log.With(logger, "component", "client"),
			Metrics:        client.NewMetrics(h.registry),
		},
		refresh: collector.Config{
			Mode:     mode,
			Interval: time.Hour,
			Timeout:  30 * time.Second,
			Logger:   log.With(logger, "component", "refresher"),
		},
		source: func(h *harness) collector.Source { return h.client },
	}
	for _, o := range options {
		o(&cfg)
	}

	if h.client, err = client.New(cfg.client); err != nil {
		t.Fatal(err)
	}
	if h.refresher, err = collector.NewRefresher(cfg.source(h), cfg.refresh); err != nil {
		t.Fatal(err)
	}
	h.registry.MustRegister(collector.NewCollector(h.refresher))

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("exporter log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) refresh() error {
	return h.refresher.Refresh(context.Background())
}

func (h *harness) mustRefresh() {
	h.t.Helper()
	if err := h.refresh(); err != nil {
		h.t.Fatalf("refresh failed: %v", err)
	}
}

// newExport publishes a new export with other data, as Defender does every few
// hours, and returns what a correct exporter shows for it.
func (h *harness) newExport() simulator.Expected {
	h.t.Helper()
	h.opts.Seed++
	if err := h.tenant.RotateWith(h.opts); err != nil {
		h.t.Fatal(err)
	}
	return h.tenant.Expected()
}

// value returns the sample of the metric selected by name{label="value",...}
// from everything the exporter publishes, and whether there is one.
func (h *harness) value(selector string) (float64, bool) {
	h.t.Helper()
	name, labels := parseSelector(h.t, selector)
	families, err := h.registry.Gather()
	if err != nil {
		h.t.Fatal(err)
	}

	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				return sampleValue(m), true
			}
		}
	}
	return math.NaN(), false
}

// metric returns the sample of selector, failing the test if there is none.
func (h *harness) metric(selector string) float64 {
	h.t.Helper()
	v, ok := h.value(selector)
	if !ok {
		h.t.Fatalf("%s is not published", selector)
	}
	return v
}

// want checks samples, given as selector → value.
func (h *harness) want(samples map[string]float64) {
	h.t.Helper()
	for _, selector := range sortedKeys(samples) {
		if got := h.metric(selector); got != samples[selector] {
			h.t.Errorf("%s = %v, want %v", selector, got, samples[selector])
		}
	}
}

// wantAbsent checks that selectors have no sample.
func (h *harness) wantAbsent(selectors ...string) {
	h.t.Helper()
	for _, s := range selectors {
		if v, ok := h.value(s); ok {
			h.t.Errorf("%s = %v, want no sample", s, v)
		}
	}
}

// serves checks that the exporter publishes exactly the counts of e.
func (h *harness) serves(e simulator.Expected) {
	h.t.Helper()
	diff(h.t, "mde_baseline_devices", gatherFrom(h.t, h.registry, "mde_baseline_devices", deviceLabels...), expectedDevices(e))
	diff(h.t, "mde_baseline_profile_devices", gatherFrom(h.t, h.registry, "mde_baseline_profile_devices", profileLabels...),
		expectedProfileDevices(e))

	want := map[string]float64{
		"mde_exporter_snapshot_loaded":  1,
		"mde_exporter_snapshot_records": float64(e.Records),
	}
	if h.mode == collector.ModeFiles {
		want["mde_exporter_snapshot_generated_timestamp_seconds"] = float64(e.GeneratedTime.Unix())
	}
	h.want(want)
}

// logLine returns the first log line that contains every one of parts.
func (h *harness) logLine(parts ...string) (string, bool) {
	for line := range strings.Lines(h.logs.String()) {
		found := true
		for _, p := range parts {
			found = found && strings.Contains(line, p)
		}
		if found {
			return line, true
		}
	}
	return "", false
}

// wantLogged checks that one log line contains every one of parts, and shows
// it in the verbose output.
func (h *harness) wantLogged(parts ...string) {
	h.t.Helper()
	line, ok := h.logLine(parts...)
	if !ok {
		h.t.Errorf("no log line contains all of %q", parts)
		return
	}
	h.t.Logf("logged: %s", line)
}

func parseSelector(t *testing.T, selector string) (string, map[string]string) {
	name, rest, found := strings.Cut(selector, "{")
	labels := make(map[string]string)
	if !found {
		return name, labels
	}
	for pair := range strings.SplitSeq(strings.TrimSuffix(rest, "}"), ",") {
		key, value, ok := strings.Cut(pair, "=")
		if !ok {
			t.Fatalf("bad selector %q", selector)
		}
		labels[key] = strings.Trim(value, `"`)
	}
	return name, labels
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	matched := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			matched++
		}
	}
	return matched == len(want)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hookedSource reads through the client and calls hook after each record the
// sink receives, with the number received since arm, so that a test can act on
// the tenant at an exact point of a download or a pagination.
type hookedSource struct {
	*client.Client
	hook  func(received int64)
	armed atomic.Bool
	count atomic.Int64
}

// arm starts counting records and calling the hook.
func (s *hookedSource) arm() {
	s.count.Store(0)
	s.armed.Store(true)
}

func (s *hookedSource) DownloadBaselineExport(ctx context.Context, files client.ExportFiles, sink client.Sink) (client.Stats, error) {
	return s.Client.DownloadBaselineExport(ctx, files, hookedSink{Sink: sink, source: s})
}

func (s *hookedSource) BaselineAssessments(ctx context.Context, sink client.Sink) (client.Stats, error) {
	return s.Client.BaselineAssessments(ctx, hookedSink{Sink: sink, source: s})
}

type hookedSink struct {
	client.Sink
	source *hookedSource
}

func (k hookedSink) BeginPart() client.PartSink {
	return hookedPart{PartSink: k.Sink.BeginPart(), source: k.source}
}

func (k hookedSink) CommitPart(p client.PartSink) {
	k.Sink.CommitPart(p.(hookedPart).PartSink)
}

type hookedPart struct {
	client.PartSink
	source *hookedSource
}

func (p hookedPart) Add(a *client.Assessment) {
	p.PartSink.Add(a)
	if p.source.armed.Load() {
		p.source.hook(p.source.count.Add(1))
	}
}

// withHook makes the harness read through a hookedSource calling hook; the
// returned source is armed by the test.
func withHook(hook func(h *harness, received int64)) (option, *hookedSource) {
	source := &hookedSource{}
	return withSource(func(h *harness) collector.Source {
		source.Client = h.client
		source.hook = func(received int64) { hook(h, received) }
		return source
	}), source
}

// gzipText compresses text as an export file is stored.
func gzipText(t *testing.T, text string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
