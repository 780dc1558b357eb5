// Package client reads the security-baseline assessment of a Microsoft Defender for
// Endpoint tenant: it signs in with Entra ID client credentials, paces and retries
// its calls within the documented rate limits, follows the paginated JSON API or
// downloads the gzip export files, and hands each record to a Sink.
package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/go-kit/log"
)

// An Endpoint names one kind of outbound request. Its value is also the endpoint
// label of the client metrics.
type Endpoint string

// The endpoints the client calls.
const (
	EndpointToken          Endpoint = "token"
	EndpointAssessments    Endpoint = "baseline_assessments"
	EndpointExport         Endpoint = "baseline_export"
	EndpointExportFile     Endpoint = "export_file"
	EndpointProfiles       Endpoint = "baseline_profiles"
	EndpointConfigurations Endpoint = "baseline_configurations"
)

// endpoints lists every Endpoint, for metrics that start at zero.
var endpoints = []Endpoint{
	EndpointToken, EndpointAssessments, EndpointExport,
	EndpointExportFile, EndpointProfiles, EndpointConfigurations,
}

// API paths, below Config.APIURL.
const (
	assessmentsPath    = "/api/machines/BaselineComplianceAssessmentByMachine"
	exportPath         = "/api/machines/BaselineComplianceAssessmentExport"
	profilesPath       = "/api/baselineProfiles"
	configurationsPath = "/api/baselineConfigurations"
)

// Defaults and bounds of Config.
const (
	defaultPageSize       = 50000
	maxPageSize           = 200000
	defaultRequestTimeout = 2 * time.Minute
	defaultMaxRetries     = 5
	defaultMaxLineBytes   = 1 << 20
	defaultMaxFileBytes   = 4 << 30
	defaultMaxPages       = 100000
)

// Config configures a Client. Zero values select the documented defaults.
type Config struct {
	TenantID, ClientID, ClientSecret string

	// LoginURL, APIURL and Scope are usually those of a Cloud, each possibly
	// overridden. The token URL is LoginURL/TenantID/oauth2/v2.0/token. APIURL is
	// the base without /api, e.g. https://api.securitycenter.microsoft.com.
	LoginURL, APIURL, Scope string

	// PageSize is the pageSize of the JSON API: default 50000, at most 200000.
	PageSize int
	// SASValidHours asks the export endpoint for download URLs valid that many
	// hours. 0 leaves the service default.
	SASValidHours int
	// RequestTimeout bounds every request; default 2m. For export file downloads
	// it bounds the wait for the response headers and any stall of the body, not
	// the whole body, which may take long.
	RequestTimeout time.Duration
	// MaxRetries is the number of retries of one request after a 429, a 5xx or a
	// network error. 0 means the default 5; a negative value disables retries.
	MaxRetries int
	// AllowHTTP lets plain http:// export file URLs be followed (the simulator).
	// Otherwise only https URLs are.
	AllowHTTP bool
	// DownloadWorkers is the number of export files read in parallel; default
	// runtime.GOMAXPROCS(0).
	DownloadWorkers int
	// MaxLineBytes bounds one line of an export file or one record of a page;
	// default 1 MiB.
	MaxLineBytes int
	// MaxFileBytes bounds the decompressed size of one export file, so that a
	// gzip bomb costs bounded time; default 4 GiB. Memory does not depend on it.
	MaxFileBytes int64
	// MaxPages bounds one run through the JSON API; default 100000.
	MaxPages int
	// Limits are the client-side budgets per endpoint. nil means DefaultLimits();
	// an endpoint missing from the map is not paced.
	Limits map[Endpoint]Limit

	// HTTPClient is the base for all requests (tests). It is copied, never
	// modified: the copy is instrumented and follows at most 3 redirects.
	HTTPClient *http.Client
	// Logger receives go-kit log lines; nil discards them.
	Logger log.Logger
	// Metrics receives the client metrics; nil keeps them unregistered.
	Metrics *Metrics
}

// A Client talks to the Defender for Endpoint API and to the blob storage of its
// exports. It is safe for concurrent use.
type Client struct {
	cfg     Config
	api     *url.URL
	http    *http.Client
	tokens  *tokenSource
	pacers  map[Endpoint]*pacer
	logger  log.Logger
	metrics *Metrics

	// now and sleep are the clock; tests replace them to run without waiting.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// Stats summarizes what a call read. It counts everything read, also when an error
// is returned and also for parts that were dropped, so Records may exceed what the
// Sink committed.
type Stats struct {
	// Records were handed to a PartSink; Skipped records lacked a key.
	Records, Skipped int64
	// Parts were committed; Pages were fetched from the JSON API.
	Parts, Pages int
	// Bytes were received: compressed bytes for export files.
	Bytes int64
}

func (s *Stats) add(other Stats) {
	s.Records += other.Records
	s.Skipped += other.Skipped
	s.Parts += other.Parts
	s.Pages += other.Pages
	s.Bytes += other.Bytes
}

// New returns a Client for cfg. It does not contact any server.
func New(cfg Config) (*Client, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}

	api, err := parseBaseURL("API", cfg.APIURL)
	if err != nil {
		return nil, err
	}

	login, err := parseBaseURL("login", cfg.LoginURL)
	if err != nil {
		return nil, err
	}

	c := &Client{
		cfg:     cfg,
		api:     api,
		pacers:  newPacers(cfg.Limits),
		logger:  cfg.Logger,
		metrics: cfg.Metrics,
		now:     time.Now,
		sleep:   sleepContext,
	}
	c.http = newHTTPClient(cfg.HTTPClient, cfg.DownloadWorkers, c.metrics, c.logger)
	c.tokens = newTokenSource(c, login.JoinPath(cfg.TenantID, "oauth2", "v2.0", "token").String())

	return c, nil
}

// withDefaults checks cfg and fills in its zero values.
func withDefaults(cfg Config) (Config, error) {
	if cfg.TenantID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return cfg, errors.New("tenant id, client id and client secret are required")
	}
	if cfg.Scope == "" {
		return cfg, errors.New("token scope is required")
	}
	if cfg.PageSize > maxPageSize {
		return cfg, fmt.Errorf("page size %d is above the API maximum of %d", cfg.PageSize, maxPageSize)
	}

	cfg.PageSize = positiveOr(cfg.PageSize, defaultPageSize)
	cfg.RequestTimeout = positiveOr(cfg.RequestTimeout, defaultRequestTimeout)
	cfg.DownloadWorkers = positiveOr(cfg.DownloadWorkers, runtime.GOMAXPROCS(0))
	cfg.MaxLineBytes = positiveOr(cfg.MaxLineBytes, defaultMaxLineBytes)
	cfg.MaxFileBytes = positiveOr(cfg.MaxFileBytes, defaultMaxFileBytes)
	cfg.MaxPages = positiveOr(cfg.MaxPages, defaultMaxPages)

	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = defaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}

	if cfg.Limits == nil {
		cfg.Limits = DefaultLimits()
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}

	return cfg, nil
}

func positiveOr[T int | int64 | time.Duration](value, fallback T) T {
	if value > 0 {
		return value
	}
	return fallback
}

// parseBaseURL checks a configured base URL. Plain http is accepted here because
// the operator chose it explicitly (a local simulator); SAS URLs come from the
// service and are checked separately.
func parseBaseURL(name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("invalid %s URL: %w", name, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("invalid %s URL %q: want https://host", name, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("invalid %s URL %q: no query or fragment allowed", name, raw)
	}

	return u, nil
}

// apiURL returns the absolute URL of an API path with the given query.
func (c *Client) apiURL(path string, query url.Values) string {
	u := c.api.JoinPath(path)
	u.RawQuery = query.Encode()

	return u.String()
}

// sleepContext waits for d, or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()

	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return contextError(ctx)
	}
}
