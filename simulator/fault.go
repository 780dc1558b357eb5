package simulator

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is a misbehaviour of one endpoint, applied to some of its requests.
type Fault struct {
	// Endpoint is the endpoint it hits, one of the Endpoint constants.
	Endpoint string
	// Skip lets this many requests through before the fault applies.
	Skip int
	// Times is how many requests it applies to: 0 means 1, -1 means forever.
	Times int

	// Status, when not 0, is answered instead of the real response, with
	// Header and Body. With Status 0 the request is served normally, subject to
	// Delay and TruncateAfter.
	Status int
	Header http.Header
	Body   string

	// Delay waits before answering, or until the client gives up.
	Delay time.Duration
	// TruncateAfter, when above 0, sends the response's first TruncateAfter
	// bytes of body and then aborts the connection.
	TruncateAfter int
	// ResetConnection closes the connection, with a TCP reset, without answering.
	ResetConnection bool
}

// faultQueue holds the faults not yet used up, per endpoint, in order.
type faultQueue struct {
	mu     sync.Mutex
	queued map[string][]*pendingFault
}

type pendingFault struct {
	Fault
	skip int // requests still to let through
	left int // requests still to hit; -1 for ever
}

func (q *faultQueue) push(f Fault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued == nil {
		q.queued = make(map[string][]*pendingFault)
	}
	q.queued[f.Endpoint] = append(q.queued[f.Endpoint], &pendingFault{Fault: f, skip: f.Skip, left: left})
}

// take returns the fault to apply to a request to endpoint, if any. Only the
// first queued fault of an endpoint counts requests; once used up, the next
// one starts.
func (q *faultQueue) take(endpoint string) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	pending := q.queued[endpoint]
	if len(pending) == 0 {
		return Fault{}, false
	}

	f := pending[0]
	if f.skip > 0 {
		f.skip--
		return Fault{}, false
	}
	if f.left > 0 {
		f.left--
		if f.left == 0 {
			q.queued[endpoint] = pending[1:]
		}
	}
	return f.Fault, true
}

// applyFault answers r as f says; next is the normal handler.
func applyFault(f Fault, next http.HandlerFunc, w http.ResponseWriter, r *http.Request) {
	if f.Delay > 0 {
		timer := time.NewTimer(f.Delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		}
	}
	if f.ResetConnection {
		resetConnection(w)
		return
	}
	if f.TruncateAfter > 0 {
		w = &truncatingWriter{ResponseWriter: w, left: f.TruncateAfter}
	}
	if f.Status == 0 {
		next(w, r)
		return
	}
	writeFault(w, f)
}

func writeFault(w http.ResponseWriter, f Fault) {
	h := w.Header()
	for name, values := range f.Header {
		h[http.CanonicalHeaderKey(name)] = values
	}
	if h.Get("Content-Type") == "" && f.Body != "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
		if strings.HasPrefix(strings.TrimPrefix(f.Body, "\ufeff"), "<") {
			h.Set("Content-Type", "application/xml")
		}
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write([]byte(f.Body))
}

// resetConnection drops the client's connection with a TCP reset.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// truncatingWriter passes on the first bytes of a body, then aborts the
// response, so the client sees a body that ends early.
type truncatingWriter struct {
	http.ResponseWriter
	left int
}

func (w *truncatingWriter) Write(p []byte) (int, error) {
	if len(p) < w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	_, _ = w.ResponseWriter.Write(p[:w.left])
	_ = http.NewResponseController(w.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *truncatingWriter) Unwrap() http.ResponseWriter {
	return w.ResponseWriter
}

// Throttle returns a fault that answers 429 with Retry-After, as the endpoint's
// host throttles: the Defender API with the observed body {"error":{"code":"429",
// "message":"API calls quota exceeded! maximum allowed 30 per 00:01:00",...}}
// (hourly: "... 1000 per 01:00:00"), Entra ID with AADSTS90055. Azure Storage
// answers 503 ServerBusy instead, and so does this fault for EndpointExportFile.
func Throttle(endpoint string, retryAfter time.Duration, hourly bool) Fault {
	header := http.Header{"Retry-After": {retryAfterSeconds(retryAfter)}}
	now := time.Now().UTC()

	switch endpoint {
	case EndpointToken:
		return Fault{Endpoint: endpoint, Status: http.StatusTooManyRequests, Header: header, Body: marshal(newAADError(now,
			"temporarily_unavailable", 90055, "TenantThrottlingError - There are too many incoming requests."))}
	case EndpointExportFile:
		header.Set("x-ms-error-code", "ServerBusy")
		header.Set("Content-Type", "application/xml")
		return Fault{Endpoint: endpoint, Status: http.StatusServiceUnavailable, Header: header,
			Body: storageErrorBody("ServerBusy", "Egress is over the account limit.", "", now)}
	}

	limit := rateLimits[endpoint].perMinute
	if hourly {
		limit = rateLimits[endpoint].perHour
	}
	body := marshal(throttleBody("429", limit, hourly))
	return Fault{Endpoint: endpoint, Status: http.StatusTooManyRequests, Header: header, Body: body}
}

// ServerError returns a fault that answers 500 in the endpoint host's shape:
// {"error":{"code":"InternalServerError",...}} from the Defender API, an AADSTS
// body from Entra ID, an XML InternalError from Azure Storage.
func ServerError(endpoint string) Fault {
	now := time.Now().UTC()
	f := Fault{Endpoint: endpoint, Status: http.StatusInternalServerError}
	switch endpoint {
	case EndpointToken:
		f.Body = marshal(newAADError(now, "server_error", 90033, "A transient error has occurred. Please try again."))
	case EndpointExportFile:
		f.Header = http.Header{"X-Ms-Error-Code": {"InternalError"}, "Content-Type": {"application/xml"}}
		f.Body = storageErrorBody("InternalError",
			"Server encountered an internal error. Please try again after some time.", "", now)
	default:
		f.Body = marshal(apiError{Error: apiErrorDetail{
			Code: "InternalServerError", Message: "An unexpected error occurred, please try again later.", Target: newRequestID(),
		}})
	}
	return f
}

// SASExpired returns a fault for the next export file download: 403 with
// x-ms-error-code AuthenticationFailed and Azure's XML body for a SAS used
// after its expiry time.
func SASExpired() Fault {
	now := time.Now().UTC()
	detail := "Signature not valid in the specified time frame: Start [" + now.Add(-2*time.Hour).Format(http.TimeFormat) +
		"] - Expiry [" + now.Add(-time.Hour).Format(http.TimeFormat) + "] - Current [" + now.Format(http.TimeFormat) + "]"
	return Fault{
		Endpoint: EndpointExportFile,
		Status:   http.StatusForbidden,
		Header:   http.Header{"X-Ms-Error-Code": {"AuthenticationFailed"}, "Content-Type": {"application/xml"}},
		Body:     storageErrorBody("AuthenticationFailed", authFailedMessage, detail, now),
	}
}

func marshal(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // only plain structs are marshalled
	return strings.TrimSuffix(buf.String(), "\n")
}
