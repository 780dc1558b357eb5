package client

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

const namespace = "mde_exporter"

// Metrics instruments the client's outbound traffic. Its series are updated as
// requests happen, independently of refreshes.
type Metrics struct {
	requests        *prometheus.CounterVec
	throttled       *prometheus.CounterVec
	throttledWait   *prometheus.CounterVec
	retries         *prometheus.CounterVec
	rateLimiterWait *prometheus.CounterVec
	tokenFailures   prometheus.Counter
	sasURLRefreshes prometheus.Counter
	downloadedBytes prometheus.Counter
}

// NewMetrics creates the client metrics and registers them with reg. With a nil
// reg they are created but not registered.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	factory := promauto.With(reg)
	endpointCounter := func(name, help string) *prometheus.CounterVec {
		opts := prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}
		return factory.NewCounterVec(opts, []string{"endpoint"})
	}
	counter := func(name, help string) prometheus.Counter {
		return factory.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	}

	m := &Metrics{
		requests: factory.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "api_requests_total",
			Help:      "HTTP requests sent, by endpoint and status code (\"error\" when no response arrived).",
		}, []string{"endpoint", "code"}),
		throttled: endpointCounter("api_throttled_total",
			"Answers with status 429 (too many requests), by endpoint."),
		throttledWait: endpointCounter("api_throttled_wait_seconds_total",
			"Time spent waiting as told by Retry-After before retrying a throttled request, by endpoint."),
		retries: endpointCounter("api_retries_total",
			"Requests sent again after throttling, a server error or a network error, by endpoint."),
		rateLimiterWait: endpointCounter("rate_limiter_wait_seconds_total",
			"Time spent waiting for the client-side rate limiter before sending a request, by endpoint."),
		tokenFailures: counter("token_failures_total",
			"Failed requests for an access token."),
		sasURLRefreshes: counter("sas_url_refreshes_total",
			"Requests for fresh export URLs after a download URL had expired."),
		downloadedBytes: counter("export_downloaded_bytes_total",
			"Compressed bytes of export files downloaded."),
	}

	for _, endpoint := range endpoints {
		for _, vec := range []*prometheus.CounterVec{m.throttled, m.throttledWait, m.retries, m.rateLimiterWait} {
			vec.WithLabelValues(string(endpoint))
		}
	}

	return m
}
