package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

const (
	userAgent    = "mde_exporter"
	maxRedirects = 3
)

// A Limit is the client-side request budget of one endpoint. A zero field leaves
// that window unlimited.
type Limit struct {
	PerMinute, PerHour int
}

// DefaultLimits returns the documented per-tenant budgets: 30/min and 1000/h for
// the JSON API, 5/min and 20/h for the export URL list. Profiles and configurations
// have no documented limit; they get the 100/min and 1500/h that most other
// Defender for Endpoint APIs document. Token requests and export file downloads
// are not paced; they are listed with zero budgets so that they can be configured.
func DefaultLimits() map[Endpoint]Limit {
	return map[Endpoint]Limit{
		EndpointToken:          {},
		EndpointAssessments:    {PerMinute: 30, PerHour: 1000},
		EndpointExport:         {PerMinute: 5, PerHour: 20},
		EndpointExportFile:     {},
		EndpointProfiles:       {PerMinute: 100, PerHour: 1500},
		EndpointConfigurations: {PerMinute: 100, PerHour: 1500},
	}
}

// A pacer keeps the requests to one endpoint within its budgets.
type pacer struct {
	windows []*rate.Limiter
}

func newPacers(limits map[Endpoint]Limit) map[Endpoint]*pacer {
	pacers := make(map[Endpoint]*pacer, len(limits))
	for endpoint, limit := range limits {
		var windows []*rate.Limiter
		if limit.PerMinute > 0 {
			windows = append(windows, windowLimiter(limit.PerMinute, time.Minute))
		}
		if limit.PerHour > 0 {
			windows = append(windows, windowLimiter(limit.PerHour, time.Hour))
		}
		if len(windows) > 0 {
			pacers[endpoint] = &pacer{windows: windows}
		}
	}

	return pacers
}

// windowLimiter returns a token bucket that lets at most n requests into any window
// of the given length: it holds a quarter of n and refills the rest over the
// window. The burst lets short sequences, such as an export call and its SAS
// refresh, go at once; long runs are spread evenly. (With n = 1 a window may see
// two requests.)
func windowLimiter(n int, window time.Duration) *rate.Limiter {
	burst := (n + 3) / 4
	refill := max(n-burst, 1)

	return rate.NewLimiter(rate.Limit(float64(refill)/window.Seconds()), burst)
}

// reserve books one request in every window at now. It returns how long to wait
// before sending it, and a function that gives the bookings back.
func (p *pacer) reserve(now time.Time) (time.Duration, func(time.Time)) {
	var delay time.Duration
	reservations := make([]*rate.Reservation, 0, len(p.windows))
	for _, limiter := range p.windows {
		r := limiter.ReserveN(now, 1)
		reservations = append(reservations, r)
		delay = max(delay, r.DelayFrom(now))
	}

	release := func(at time.Time) {
		for _, r := range reservations {
			r.CancelAt(at)
		}
	}

	return delay, release
}

// pace waits until endpoint's budgets allow one more request. A wait that would
// pass ctx's deadline fails at once as throttled.
func (c *Client) pace(ctx context.Context, endpoint Endpoint) error {
	p, ok := c.pacers[endpoint]
	if !ok {
		return nil
	}

	delay, release := p.reserve(c.now())
	if delay <= 0 {
		return nil
	}

	if passesDeadline(ctx, delay) {
		release(c.now())
		return failf(reasonThrottled, "%s: the client-side rate limit allows the next request in %s, after the deadline",
			endpoint, delay.Round(time.Second))
	}

	level.Debug(c.logger).Log("msg", "waiting for the rate limiter", "endpoint", endpoint, "wait_seconds", delay.Seconds())
	if err := c.sleep(ctx, delay); err != nil {
		release(c.now())
		return fmt.Errorf("%s: waiting for the rate limiter: %w", endpoint, err)
	}
	c.metrics.rateLimiterWait.WithLabelValues(string(endpoint)).Add(delay.Seconds())

	return nil
}

// passesDeadline reports whether waiting for wait would end after ctx's deadline.
func passesDeadline(ctx context.Context, wait time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < wait
}

// A request is one logical GET; get may send it several times.
type request struct {
	endpoint Endpoint
	url      string
	// bearer sends the API access token. Blob downloads never carry it: their
	// signature is in the URL.
	bearer bool
	// stream marks a body that may be large: RequestTimeout then bounds the wait
	// for the headers and every stall of the body instead of the whole exchange.
	stream bool
}

// failedAttempt is one failed try of a request and what the retry loop may do
// about it.
type failedAttempt struct {
	err error
	// retry is set when sending the same request again may succeed.
	retry bool
	// throttled is set for a 429; retryAfter is its Retry-After, 0 when absent.
	throttled  bool
	retryAfter time.Duration
	// rejectedToken is the access token the API answered 401 to.
	rejectedToken string
}

// get sends req until it gets a 2xx answer and returns its body, which the caller
// must close. A 429 is retried after its Retry-After; 5xx answers and network
// errors after an exponential backoff; all of them at most MaxRetries times. A 401
// renews the access token once. Other answers fail at once.
func (c *Client) get(ctx context.Context, req request) (*responseBody, error) {
	policy := newBackOff()
	tokenRenewed := false

	for retries := 0; ; {
		body, failed := c.send(ctx, req)
		if failed == nil {
			return body, nil
		}

		if failed.rejectedToken != "" && !tokenRenewed {
			level.Debug(c.logger).Log("msg", "access token rejected, renewing it", "endpoint", req.endpoint)
			c.tokens.invalidate(failed.rejectedToken)
			tokenRenewed = true
			c.metrics.retries.WithLabelValues(string(req.endpoint)).Inc()
			continue
		}

		if !failed.retry || retries >= c.cfg.MaxRetries {
			return nil, giveUp(failed.err, retries)
		}

		wait := failed.retryAfter
		if wait <= 0 {
			wait = policy.NextBackOff()
		}
		if err := c.waitToRetry(ctx, req.endpoint, wait, failed.throttled, failed.err); err != nil {
			return nil, err
		}
		retries++
	}
}

func giveUp(err error, retries int) error {
	if retries == 0 {
		return err
	}

	return fmt.Errorf("giving up after %d retries: %w", retries, err)
}

// newBackOff returns the wait policy between retries: exponential from 1s to 30s,
// each wait randomized by ±50 %.
func newBackOff() backoff.BackOff {
	policy := backoff.NewExponentialBackOff()
	policy.InitialInterval = time.Second
	policy.MaxInterval = 30 * time.Second

	return policy
}

// waitToRetry waits before sending a request again, after the failure cause. A wait
// that would pass ctx's deadline fails at once: as throttled when the server asked
// for it, otherwise with cause's own reason.
func (c *Client) waitToRetry(ctx context.Context, endpoint Endpoint, wait time.Duration, throttled bool,
	cause error,
) error {
	if passesDeadline(ctx, wait) {
		rounded := wait.Round(time.Second)
		if throttled {
			return failf(reasonThrottled, "retry after %s would pass the deadline: %w", rounded, cause)
		}
		return fmt.Errorf("giving up: the retry in %s would pass the deadline: %w", rounded, cause)
	}

	level.Warn(c.logger).Log("msg", "request failed, retrying", "endpoint", endpoint,
		"wait_seconds", wait.Seconds(), "err", cause)
	if err := c.sleep(ctx, wait); err != nil {
		return fmt.Errorf("%s: waiting to retry: %w", endpoint, err)
	}

	c.metrics.retries.WithLabelValues(string(endpoint)).Inc()
	if throttled {
		c.metrics.throttledWait.WithLabelValues(string(endpoint)).Add(wait.Seconds())
	}

	return nil
}

// send makes one attempt at req.
func (c *Client) send(ctx context.Context, req request) (*responseBody, *failedAttempt) {
	if err := c.pace(ctx, req.endpoint); err != nil {
		return nil, &failedAttempt{err: err}
	}

	var token string
	if req.bearer {
		var err error
		if token, err = c.tokens.accessToken(ctx); err != nil {
			return nil, &failedAttempt{err: err}
		}
	}

	attemptCtx, watchdog := startWatchdog(ctx, c.cfg.RequestTimeout, req.stream)
	httpReq, err := newGetRequest(attemptCtx, req, token)
	if err != nil {
		watchdog.stop()
		return nil, &failedAttempt{err: fail(reasonHTTP, err)}
	}

	resp, err := c.http.Do(httpReq)
	if err != nil {
		watchdog.stop()
		return nil, transportFailure(ctx, watchdog, req.endpoint, err)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer watchdog.stop()
		defer resp.Body.Close()
		return nil, c.statusFailure(req, resp, token)
	}

	return c.newResponseBody(attemptCtx, watchdog, req.endpoint, resp.Body), nil
}

func newGetRequest(ctx context.Context, req request, token string) (*http.Request, error) {
	httpReq, err := http.NewRequestWithContext(withEndpoint(ctx, req.endpoint), http.MethodGet, req.url, nil)
	if err != nil {
		return nil, redactError(err)
	}

	httpReq.Header.Set("User-Agent", userAgent)
	if token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+token)
	}
	if req.endpoint == EndpointExportFile {
		// The gzip stream is decoded, and counted, as stored: no transparent
		// decompression even if the blob has a Content-Encoding.
		httpReq.Header.Set("Accept-Encoding", "identity")
	} else {
		httpReq.Header.Set("Accept", "application/json")
	}

	return httpReq, nil
}

// transportFailure classifies an attempt that got no answer.
func transportFailure(ctx context.Context, w *watchdog, endpoint Endpoint, err error) *failedAttempt {
	err = redactError(err)

	var certErr *tls.CertificateVerificationError
	switch {
	case ctx.Err() != nil:
		// The caller gave up: retrying cannot help.
		return &failedAttempt{err: fmt.Errorf("%s request: %w", endpoint, contextError(ctx))}
	case w.expired() != nil:
		return &failedAttempt{err: fmt.Errorf("%s request: %w", endpoint, w.expired()), retry: true}
	case errors.Is(err, errRedirectRefused), errors.As(err, &certErr):
		return &failedAttempt{err: fail(reasonHTTP, fmt.Errorf("%s request: %w", endpoint, err))}
	default:
		return &failedAttempt{err: fail(reasonHTTP, fmt.Errorf("%s request: %w", endpoint, err)), retry: true}
	}
}

// statusFailure classifies a non-2xx answer.
func (c *Client) statusFailure(req request, resp *http.Response, token string) *failedAttempt {
	apiErr := readAPIError(req.endpoint, resp)

	switch status := resp.StatusCode; {
	case status == http.StatusTooManyRequests:
		// Throttling is decided by the status: error.code may be "429" or
		// "TooManyRequests".
		c.metrics.throttled.WithLabelValues(string(req.endpoint)).Inc()
		return &failedAttempt{
			err:        fail(reasonThrottled, apiErr),
			retry:      true,
			throttled:  true,
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
		}
	case status >= 500 || status == http.StatusRequestTimeout:
		return &failedAttempt{err: fail(reasonHTTP, apiErr), retry: true}
	case req.endpoint == EndpointExportFile:
		return &failedAttempt{err: fail(reasonExport, exportFileError(apiErr))}
	case status == http.StatusUnauthorized:
		return &failedAttempt{err: fail(reasonAuth, apiErr), rejectedToken: token}
	case status == http.StatusForbidden:
		return &failedAttempt{err: fail(reasonAuth, apiErr)}
	default:
		return &failedAttempt{err: fail(reasonHTTP, apiErr)}
	}
}

// exportFileError marks the answer of blob storage to an expired (or otherwise
// invalid) SAS signature.
func exportFileError(apiErr *apiError) error {
	if apiErr.statusCode == http.StatusForbidden && apiErr.code == "AuthenticationFailed" {
		return fmt.Errorf("%w: %w", errSASExpired, apiErr)
	}

	return apiErr
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date. It returns
// 0 when the header is absent or unusable.
func parseRetryAfter(value string, now time.Time) time.Duration {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0
	}

	if seconds, err := strconv.Atoi(value); err == nil {
		return time.Duration(max(seconds, 0)) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil {
		return max(at.Sub(now), 0)
	}

	return 0
}

// A watchdog ends an attempt that takes too long: after the timeout in total, or
// for a stream after the timeout without progress.
type watchdog struct {
	timer   *time.Timer
	timeout time.Duration
	stream  bool
	cancel  context.CancelCauseFunc
	// timedOut is set when the timer ended the attempt.
	timedOut atomic.Bool
}

func startWatchdog(ctx context.Context, timeout time.Duration, stream bool) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{timeout: timeout, stream: stream, cancel: cancel}
	w.timer = time.AfterFunc(timeout, func() {
		w.timedOut.Store(true)
		cancel(w.expired())
	})

	return ctx, w
}

// expired returns the error of an attempt the watchdog ended, nil if it did not.
func (w *watchdog) expired() error {
	switch {
	case !w.timedOut.Load():
		return nil
	case w.stream:
		return failf(reasonTimeout, "no data for %s", w.timeout)
	default:
		return failf(reasonTimeout, "no complete answer within %s", w.timeout)
	}
}

// progress restarts the stall timeout of a stream.
func (w *watchdog) progress() {
	if w.stream {
		w.timer.Reset(w.timeout)
	}
}

func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(nil)
}

// responseBody is the body of a 2xx answer. It counts what it reads, feeds the
// watchdog, turns read failures into classified errors, and ends the attempt when
// closed.
type responseBody struct {
	body     io.ReadCloser
	ctx      context.Context
	watchdog *watchdog
	endpoint Endpoint
	// downloaded counts compressed export bytes; nil for the API.
	downloaded prometheus.Counter

	bytes int64
	// err is the first read failure, kept because decoders may wrap it opaquely.
	err error
}

func (c *Client) newResponseBody(ctx context.Context, w *watchdog, endpoint Endpoint,
	body io.ReadCloser,
) *responseBody {
	b := &responseBody{body: body, ctx: ctx, watchdog: w, endpoint: endpoint}
	if endpoint == EndpointExportFile {
		b.downloaded = c.metrics.downloadedBytes
	}

	return b
}

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if n > 0 {
		b.bytes += int64(n)
		b.watchdog.progress()
		if b.downloaded != nil {
			b.downloaded.Add(float64(n))
		}
	}

	if err != nil && !errors.Is(err, io.EOF) {
		err = b.failure(err)
		if b.err == nil {
			b.err = err
		}
	}

	return n, err
}

// failure classifies a failed read. A body cut by the network or by the stall
// timeout is a broken transfer, which may be worth another try; one ended by the
// caller is not.
func (b *responseBody) failure(err error) error {
	if stalled := b.watchdog.expired(); stalled != nil {
		return fmt.Errorf("reading the %s answer: %w: %w", b.endpoint, errTransferBroken, stalled)
	}
	if b.ctx.Err() != nil {
		return fmt.Errorf("reading the %s answer: %w", b.endpoint, contextError(b.ctx))
	}

	return fail(reasonHTTP, fmt.Errorf("reading the %s answer: %w: %w", b.endpoint, errTransferBroken, redactError(err)))
}

// Close closes the body and ends the attempt.
func (b *responseBody) Close() error {
	err := b.body.Close()
	b.watchdog.stop()

	return err
}

// readFailure explains why decoding the body failed: the transport's error if a
// read failed, otherwise a decoding error about what.
func (b *responseBody) readFailure(what string, err error) error {
	switch {
	case b.err != nil:
		return b.err
	case hasReason(err):
		return err
	default:
		return failf(reasonDecode, "decoding %s: %w", what, err)
	}
}

type endpointKey struct{}

func withEndpoint(ctx context.Context, endpoint Endpoint) context.Context {
	return context.WithValue(ctx, endpointKey{}, endpoint)
}

func endpointOf(ctx context.Context) Endpoint {
	if endpoint, ok := ctx.Value(endpointKey{}).(Endpoint); ok {
		return endpoint
	}

	return "unknown"
}

// newHTTPClient copies base (or a default client) and instruments it. Redirects
// are followed at most 3 times and never from https to http.
func newHTTPClient(base *http.Client, workers int, metrics *Metrics, logger log.Logger) *http.Client {
	client := &http.Client{}
	if base != nil {
		*client = *base
	}

	next := client.Transport
	if next == nil {
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.MaxIdleConnsPerHost = max(workers, http.DefaultMaxIdleConnsPerHost)
		next = transport
	}

	client.Transport = &instrumentedTransport{next: next, metrics: metrics, logger: logger}
	client.CheckRedirect = checkRedirect

	return client
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", errRedirectRefused, maxRedirects)
	}
	if previous := via[len(via)-1]; previous.URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: from https to %s", errRedirectRefused, req.URL.Scheme)
	}

	return nil
}

// instrumentedTransport counts and logs every request, token requests of the
// oauth2 package included, and drops a UTF-8 byte order mark from JSON answers.
type instrumentedTransport struct {
	next    http.RoundTripper
	metrics *Metrics
	logger  log.Logger
}

// RoundTrip implements http.RoundTripper.
func (t *instrumentedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	endpoint := endpointOf(req.Context())
	start := time.Now()

	resp, err := t.next.RoundTrip(req)

	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.metrics.requests.WithLabelValues(string(endpoint), code).Inc()

	keyvals := []any{"msg", "request done", "endpoint", endpoint, "url", RedactURL(req.URL.String()),
		"status", code, "duration_seconds", time.Since(start).Seconds()}
	if err != nil {
		keyvals = append(keyvals, "err", redactError(err))
	}
	level.Debug(t.logger).Log(keyvals...)

	if err == nil && endpoint != EndpointExportFile {
		resp.Body = &bomSkippingBody{ReadCloser: resp.Body}
	}

	return resp, err
}

const byteOrderMark = "\ufeff"

// bomSkippingBody drops a UTF-8 byte order mark at the start of a body.
type bomSkippingBody struct {
	io.ReadCloser
	buffered *bufio.Reader
}

func (b *bomSkippingBody) Read(p []byte) (int, error) {
	if b.buffered == nil {
		b.buffered = bufio.NewReader(b.ReadCloser)
		if head, _ := b.buffered.Peek(len(byteOrderMark)); string(head) == byteOrderMark {
			_, _ = b.buffered.Discard(len(byteOrderMark))
		}
	}

	return b.buffered.Read(p)
}
