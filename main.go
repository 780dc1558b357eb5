// Command mde_exporter serves the security-baseline compliance of a Microsoft
// Defender for Endpoint tenant as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

const exporterName = "mde_exporter"

// secretEnvVar holds the client secret when no secret file is given. The secret
// is never a flag, so it never shows in the process list.
const secretEnvVar = "MDE_CLIENT_SECRET"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// options holds every flag of the program.
type options struct {
	cloud, tenantID, clientID, secretFile string
	loginURL, apiURL, scope               string

	exportMode     string
	pageSize       int
	sasValidHours  int
	requestTimeout time.Duration
	maxRetries     int
	workers        int
	allowHTTP      bool
	maxFileSize    units.Base2Bytes
	rateLimits     []string

	interval, timeout, startDelay time.Duration
	snapshotPath                  string

	metricsPath        string
	disableExporterMet bool
	maxRequests        int

	demo        bool
	demoDevices int
	demoSeed    int64
}

func parseFlags(args []string) (*options, *logConfig, *web.FlagConfig, error) {
	app := kingpin.New(exporterName, "Prometheus exporter for Microsoft Defender for Endpoint security-baseline compliance.")
	o := &options{}

	app.Flag("mde.cloud", "Microsoft cloud of the tenant; sets the sign-in host, API host and token scope together. One of: [commercial, gcc, gcc-high, dod].").
		Default("commercial").Envar("MDE_CLOUD").EnumVar(&o.cloud, client.CloudNames...)
	app.Flag("mde.tenant-id", "Entra ID tenant (directory) id.").Envar("MDE_TENANT_ID").StringVar(&o.tenantID)
	app.Flag("mde.client-id", "Application (client) id of the app registration.").Envar("MDE_CLIENT_ID").StringVar(&o.clientID)
	app.Flag("mde.client-secret-file", "File holding the client secret. Without it, the secret is read from the "+secretEnvVar+" environment variable.").
		Envar("MDE_CLIENT_SECRET_FILE").StringVar(&o.secretFile)
	app.Flag("mde.login-url", "Override of the cloud's sign-in base URL, e.g. https://login.microsoftonline.us.").Envar("MDE_LOGIN_URL").StringVar(&o.loginURL)
	app.Flag("mde.api-url", "Override of the cloud's API base URL, e.g. a regional host such as https://eu.api.security.microsoft.com. The token scope does not follow it.").
		Envar("MDE_API_URL").StringVar(&o.apiURL)
	app.Flag("mde.scope", "Override of the cloud's OAuth2 scope, e.g. https://api.securitycenter.microsoft.com/.default.").Envar("MDE_SCOPE").StringVar(&o.scope)

	app.Flag("mde.export-mode", "How to read the assessment: files (gzip export files, for any tenant size) or json (paginated JSON API, for small tenants).").
		Default(collector.ModeFiles).Envar("MDE_EXPORT_MODE").EnumVar(&o.exportMode, collector.ModeFiles, collector.ModeJSON)
	app.Flag("mde.page-size", "Records per page in json mode (the API allows up to 200000).").Default("50000").IntVar(&o.pageSize)
	app.Flag("mde.sas-valid-hours", "Validity asked for the export's download URLs, in hours (1 to 6); 0 leaves the service default.").Default("0").IntVar(&o.sasValidHours)
	app.Flag("mde.request-timeout", "Timeout of one API request; for file downloads, the longest wait for headers or for more of the body.").Default("2m").DurationVar(&o.requestTimeout)
	app.Flag("mde.max-retries", "Retries of one request after throttling, a server error or a network error.").Default("5").IntVar(&o.maxRetries)
	app.Flag("mde.download-workers", "Export files downloaded and aggregated in parallel; 0 means one per CPU.").Default("0").IntVar(&o.workers)
	app.Flag("mde.allow-insecure-downloads", "Follow http:// export file URLs. Only for test tenants such as the simulator.").BoolVar(&o.allowHTTP)
	app.Flag("mde.max-file-size", "Largest decompressed size of one export file; a larger one (a gzip bomb) fails the refresh.").Default("4GiB").BytesVar(&o.maxFileSize)
	app.Flag("mde.rate-limit", "Client-side limit of an endpoint as ENDPOINT=PER_MINUTE/PER_HOUR, e.g. baseline_export=5/20; 0 means unlimited; repeatable. Defaults are the documented limits.").
		PlaceHolder("ENDPOINT=N/N").StringsVar(&o.rateLimits)

	app.Flag("refresh.interval", "Time between the starts of two refreshes of the export.").Default("30m").Envar("MDE_REFRESH_INTERVAL").DurationVar(&o.interval)
	app.Flag("refresh.timeout", "Deadline of one refresh; a refresh that passes it fails and the last snapshot stays.").Default("25m").DurationVar(&o.timeout)
	app.Flag("refresh.start-delay", "Longest random delay before the first refresh.").Default("30s").DurationVar(&o.startDelay)
	app.Flag("snapshot.path", "File to save each new snapshot to and to restore it from at start, so that a restart serves the last data, with its true age, until the first refresh.").
		Envar("MDE_SNAPSHOT_PATH").StringVar(&o.snapshotPath)

	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.metricsPath)
	app.Flag("web.disable-exporter-metrics", "Exclude the exporter's process and Go runtime metrics (process_*, go_*, promhttp_*).").BoolVar(&o.disableExporterMet)
	app.Flag("web.max-requests", "Maximum number of parallel scrape requests; 0 disables the limit.").Default("40").IntVar(&o.maxRequests)

	app.Flag("demo", "Run against an in-process simulated tenant; no credentials needed.").BoolVar(&o.demo)
	app.Flag("demo.devices", "Devices of the simulated tenant in demo mode.").Default("2000").IntVar(&o.demoDevices)
	app.Flag("demo.seed", "Seed of the simulated tenant's data in demo mode.").Default("1").Int64Var(&o.demoSeed)

	toolkitFlags := kingpinflag.AddFlags(app, ":10125")
	logCfg := addLogFlags(app)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')

	if _, err := app.Parse(args); err != nil {
		return nil, nil, nil, err
	}
	if err := o.validate(); err != nil {
		return nil, nil, nil, err
	}
	return o, logCfg, toolkitFlags, nil
}

// validate rejects flag values that would only fail later, at the first
// refresh, or be silently replaced by a default.
func (o *options) validate() error {
	checks := []struct {
		flag     string
		value    int
		min, max int
	}{
		{"--mde.page-size", o.pageSize, 1, 200000},
		{"--mde.sas-valid-hours", o.sasValidHours, 0, 6},
		{"--mde.max-retries", o.maxRetries, 0, 100},
		{"--mde.download-workers", o.workers, 0, 1024},
		{"--web.max-requests", o.maxRequests, 0, 100000},
		{"--demo.devices", o.demoDevices, 1, 10000000},
	}
	for _, c := range checks {
		if c.value < c.min || c.value > c.max {
			return fmt.Errorf("%s=%d: want %d to %d", c.flag, c.value, c.min, c.max)
		}
	}
	return nil
}

// run is the whole program: it serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	o, logCfg, toolkitFlags, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	logger := logCfg.newLogger(stderr)

	level.Info(logger).Log("msg", "Starting "+exporterName, "version", version.Info())
	level.Info(logger).Log("msg", "Build context", "build_context", version.BuildContext())

	clientCfg, closeDemo, err := o.clientConfig(logger)
	if err != nil {
		level.Error(logger).Log("msg", "invalid configuration", "err", err)
		return 1
	}
	defer closeDemo()

	exporterRegistry := prometheus.NewRegistry()
	clientCfg.Metrics = client.NewMetrics(exporterRegistry)
	mde, err := client.New(clientCfg)
	if err != nil {
		level.Error(logger).Log("msg", "invalid configuration", "err", err)
		return 1
	}

	refresher, err := collector.NewRefresher(mde, collector.Config{
		Mode:           o.exportMode,
		Interval:       o.interval,
		Timeout:        o.timeout,
		StartDelay:     o.startDelay,
		SnapshotPath:   o.snapshotPath,
		SnapshotTenant: o.snapshotTenant(clientCfg),
		Logger:         log.With(logger, "component", "refresher"),
	})
	if err != nil {
		level.Error(logger).Log("msg", "invalid configuration", "err", err)
		return 1
	}
	if err := refresher.Restore(); err != nil {
		level.Warn(logger).Log("msg", "saved snapshot ignored, starting without data", "err", err)
	}

	go refresher.Run(ctx)
	if o.demo {
		// The demo serves real numbers from its first scrape.
		waitReady(ctx, refresher, 30*time.Second)
	}

	exporterRegistry.MustRegister(
		collector.NewCollector(refresher),
		versioncollector.NewCollector(exporterName),
	)
	handler, err := o.routes(exporterRegistry, refresher, logger)
	if err != nil {
		level.Error(logger).Log("msg", "could not build the landing page", "err", err)
		return 1
	}
	return serve(ctx, handler, toolkitFlags, logger, logCfg.newSlogLogger(stderr))
}

// snapshotTenant names the data a saved snapshot holds: the tenant id, and for
// the demo's simulated tenants, which all share one id, its seed and size.
func (o *options) snapshotTenant(cfg client.Config) string {
	if o.demo {
		return fmt.Sprintf("%s (demo: seed %d, %d devices)", cfg.TenantID, o.demoSeed, o.demoDevices)
	}
	return cfg.TenantID
}

// waitReady waits, at most for timeout, until r has loaded a snapshot.
func waitReady(ctx context.Context, r *collector.Refresher, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !r.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// clientConfig resolves the cloud and its overrides, the credentials and the
// client settings. In demo mode it starts the simulated tenant and points the
// client at it; the returned function stops it.
func (o *options) clientConfig(logger log.Logger) (client.Config, func(), error) {
	limits, err := parseRateLimits(o.rateLimits)
	if err != nil {
		return client.Config{}, nil, err
	}

	cfg := client.Config{
		TenantID:        o.tenantID,
		ClientID:        o.clientID,
		PageSize:        o.pageSize,
		SASValidHours:   o.sasValidHours,
		RequestTimeout:  o.requestTimeout,
		MaxRetries:      retries(o.maxRetries),
		AllowHTTP:       o.allowHTTP,
		MaxFileBytes:    int64(o.maxFileSize),
		DownloadWorkers: o.workers,
		Limits:          limits,
		Logger:          log.With(logger, "component", "client"),
	}
	if o.demo {
		return o.demoConfig(cfg, logger)
	}

	cloud, err := client.LookupCloud(o.cloud)
	if err != nil {
		return client.Config{}, nil, err
	}
	cfg.LoginURL = firstNonEmpty(o.loginURL, cloud.LoginURL)
	cfg.APIURL = firstNonEmpty(o.apiURL, cloud.APIURL)
	cfg.Scope = firstNonEmpty(o.scope, cloud.Scope)

	cfg.ClientSecret, err = readSecret(o.secretFile)
	if err != nil {
		return client.Config{}, nil, err
	}
	if cfg.TenantID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return client.Config{}, nil, errors.New("--mde.tenant-id, --mde.client-id and a client secret (--mde.client-secret-file or " + secretEnvVar + ") are required; try --demo to run without a tenant")
	}
	return cfg, func() {}, nil
}

func (o *options) demoConfig(cfg client.Config, logger log.Logger) (client.Config, func(), error) {
	opts := simulator.Demo()
	opts.Seed = o.demoSeed
	opts.Devices = o.demoDevices
	level.Info(logger).Log("msg", "demo mode: generating a simulated tenant", "devices", opts.Devices)
	tenant, err := simulator.Start(opts)
	if err != nil {
		return client.Config{}, nil, fmt.Errorf("start the simulated tenant: %w", err)
	}
	level.Info(logger).Log("msg", "demo mode: serving the simulated tenant",
		"api_url", tenant.APIURL(), "login_url", tenant.LoginURL())

	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = opts.TenantID, opts.ClientID, opts.ClientSecret
	cfg.LoginURL, cfg.APIURL, cfg.Scope = tenant.LoginURL(), tenant.APIURL(), tenant.Scope()
	cfg.AllowHTTP = true
	o.startDelay = 0
	return cfg, tenant.Close, nil
}

// readSecret reads the client secret from path, or from the environment when
// path is empty. Surrounding whitespace, such as a final newline, is dropped.
func readSecret(path string) (string, error) {
	if path == "" {
		return strings.TrimSpace(os.Getenv(secretEnvVar)), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the client secret file: %w", err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("the client secret file %s is empty", path)
	}
	return secret, nil
}

// parseRateLimits reads --mde.rate-limit values over the documented defaults.
func parseRateLimits(values []string) (map[client.Endpoint]client.Limit, error) {
	limits := client.DefaultLimits()
	for _, v := range values {
		var perMinute, perHour int
		name, rates, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("rate limit %q: want ENDPOINT=PER_MINUTE/PER_HOUR", v)
		}
		if _, err := fmt.Sscanf(rates, "%d/%d", &perMinute, &perHour); err != nil {
			return nil, fmt.Errorf("rate limit %q: want ENDPOINT=PER_MINUTE/PER_HOUR: %w", v, err)
		}
		if _, known := limits[client.Endpoint(name)]; !known {
			return nil, fmt.Errorf("rate limit %q: unknown endpoint %q", v, name)
		}
		if perMinute < 0 || perHour < 0 {
			return nil, fmt.Errorf("rate limit %q: limits cannot be negative (0 means unlimited)", v)
		}
		limits[client.Endpoint(name)] = client.Limit{PerMinute: perMinute, PerHour: perHour}
	}
	return limits, nil
}

// retries maps the --mde.max-retries flag, where 0 means none, to the client's
// setting, where 0 means the default.
func retries(flag int) int {
	if flag <= 0 {
		return -1
	}
	return flag
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// routes builds the HTTP handler: metrics, health, readiness and landing page.
func (o *options) routes(reg *prometheus.Registry, refresher *collector.Refresher, logger log.Logger) (http.Handler, error) {
	gatherers := prometheus.Gatherers{reg}
	if !o.disableExporterMet {
		processRegistry := prometheus.NewRegistry()
		processRegistry.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
		gatherers = append(gatherers, processRegistry)
	}

	metrics := promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:            stdlog.New(log.NewStdlibAdapter(level.Error(logger)), "", 0),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: o.maxRequests,
	})
	if !o.disableExporterMet {
		metrics = promhttp.InstrumentMetricHandler(reg, metrics)
	}

	mux := http.NewServeMux()
	mux.Handle(o.metricsPath, metrics)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		snap := refresher.Snapshot()
		if snap == nil {
			http.Error(w, "Not ready: no snapshot loaded yet", http.StatusServiceUnavailable)
			return
		}
		// Stale data is still worth serving: the age tells it apart.
		fmt.Fprintf(w, "Ready: serving the snapshot read at %s, %s ago\n",
			snap.CompletedAt.UTC().Format(time.RFC3339), time.Since(snap.CompletedAt).Round(time.Second))
	})

	if o.metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        exporterName,
			Description: "Prometheus exporter for Microsoft Defender for Endpoint security-baseline compliance",
			Version:     version.Info(),
			Profiling:   "false",
			Links: []web.LandingLinks{
				{Address: o.metricsPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
				{Address: "/-/ready", Text: "Readiness"},
			},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return boundRequests(mux), nil
}

// Bounds of the requests the exporter serves: its endpoints take no body and
// no query parameters worth more than a few bytes.
const (
	maxRequestBodyBytes  = 1 << 10
	maxRequestQueryBytes = 1 << 10
)

// boundRequests refuses request bodies over maxRequestBodyBytes with 413 and
// query strings over maxRequestQueryBytes with 414 before next sees them.
// Request lines and headers are bounded by the server's MaxHeaderBytes.
func boundRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case len(r.URL.RawQuery) > maxRequestQueryBytes:
			http.Error(w, "query string too long", http.StatusRequestURITooLong)
			return
		case r.ContentLength > maxRequestBodyBytes:
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}

		// A body of unknown length is cut at the bound when read.
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// serve runs the web server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, handler http.Handler, flags *web.FlagConfig, logger log.Logger, webLogger *slog.Logger) int {
	server := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// Connection-level errors, such as failed TLS handshakes, go to the same log.
		ErrorLog: stdlog.New(log.NewStdlibAdapter(level.Warn(logger)), "", 0),
	}

	done := make(chan error, 1)
	go func() {
		done <- web.ListenAndServe(server, flags, webLogger)
	}()

	select {
	case err := <-done:
		level.Error(logger).Log("msg", "web server failed", "err", err)
		return 1
	case <-ctx.Done():
	}

	level.Info(logger).Log("msg", "shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		level.Warn(logger).Log("msg", "graceful shutdown failed", "err", err)
	}
	return 0
}
