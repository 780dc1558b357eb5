package client

import (
	"cmp"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"
)

// ErrSnapshotChanged is returned by DownloadBaselineExport when expired download
// URLs were renewed and the export had been regenerated in the meantime: the parts
// read so far belong to an older snapshot than the rest would.
var ErrSnapshotChanged = errors.New("export snapshot changed during the download")

// Reasons a refresh fails, the values of Reason.
const (
	reasonAuth       = "auth"
	reasonThrottled  = "throttled"
	reasonTimeout    = "timeout"
	reasonHTTP       = "http"
	reasonDecode     = "decode"
	reasonPagination = "pagination"
	reasonExport     = "export"
	reasonCanceled   = "canceled"
	reasonOther      = "other"
)

// Reason classifies an error of this package into a bounded label value: "auth",
// "throttled", "timeout", "http", "decode", "pagination", "export", "canceled" or
// "other". It returns "" for a nil error.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return reasonCanceled
	}

	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}

	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout() {
		return reasonTimeout
	}

	return reasonOther
}

// failure is an error with the Reason it counts under.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(reason string, err error) error {
	return &failure{reason: reason, err: err}
}

func failf(reason, format string, args ...any) error {
	return &failure{reason: reason, err: fmt.Errorf(format, args...)}
}

// contextError explains why ctx ended: its cause, which keeps context.Canceled or
// context.DeadlineExceeded in its chain for Reason even when the cause is custom
// (a signal, a refresh deadline with its own message).
func contextError(ctx context.Context) error {
	err, cause := ctx.Err(), context.Cause(ctx)
	if cause == nil || errors.Is(cause, err) {
		return cause
	}

	return fmt.Errorf("%w: %w", err, cause)
}

// hasReason reports whether err is already classified, so that wrapping it as a
// decoding failure would hide what really went wrong.
func hasReason(err error) bool {
	var f *failure
	return errors.As(err, &f) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// Sentinels matched within the package.
var (
	// errSASExpired marks a download URL whose signature is no longer valid.
	errSASExpired = errors.New("export download URL expired")
	// errCursorExpired marks a nextLink the API refused after the first page,
	// typically because the snapshot it paged over was replaced.
	errCursorExpired = errors.New("pagination cursor rejected")
	// errTransferBroken marks a body cut short by the network or a stall.
	errTransferBroken = errors.New("transfer broken")
	// errRedirectRefused marks a redirect the client will not follow.
	errRedirectRefused = errors.New("redirect refused")
)

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// maxErrorMessage bounds the service's message quoted in an error.
const maxErrorMessage = 300

// apiError is a non-2xx answer, described by the service's error body:
// {"error":{"code":…,"message":…,"target":…}} from the API, or the XML error and
// x-ms-error-code header of blob storage.
type apiError struct {
	endpoint   Endpoint
	statusCode int
	code       string
	message    string
	// target is the service's correlation id; not necessarily a GUID.
	target string
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.endpoint, e.statusCode)
	if e.code != "" {
		b.WriteString(" " + e.code)
	}
	if e.message != "" {
		b.WriteString(": " + e.message)
	}
	if e.target != "" {
		fmt.Fprintf(&b, " (target %s)", e.target)
	}

	return b.String()
}

// hasStatus reports whether err comes from an answer with the given status.
func hasStatus(err error, status int) bool {
	var apiErr *apiError
	return errors.As(err, &apiErr) && apiErr.statusCode == status
}

// readAPIError describes the failed answer resp, reading a bounded part of its body.
func readAPIError(endpoint Endpoint, resp *http.Response) *apiError {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))

	apiErr := &apiError{endpoint: endpoint, statusCode: resp.StatusCode}

	var envelope struct {
		Error struct {
			Code    FlexString `json:"code"`
			Message FlexString `json:"message"`
			Target  FlexString `json:"target"`
		} `json:"error"`
	}
	var blob struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
		// Detail says why a signature was refused, e.g. "Signature not valid
		// in the specified time frame: Start […] - Expiry […] - Current […]".
		Detail string `xml:"AuthenticationErrorDetail"`
	}

	switch {
	case json.Unmarshal(body, &envelope) == nil:
		apiErr.code = string(envelope.Error.Code)
		apiErr.message = string(envelope.Error.Message)
		apiErr.target = string(envelope.Error.Target)
	case xml.Unmarshal(body, &blob) == nil:
		apiErr.code = blob.Code
		apiErr.message = cmp.Or(blob.Detail, blob.Message)
	}

	if code := resp.Header.Get("x-ms-error-code"); code != "" {
		apiErr.code = code
	}
	if apiErr.code == "" {
		apiErr.code = http.StatusText(resp.StatusCode)
	}
	apiErr.message = shorten(redactURLsIn(firstLine(apiErr.message)), maxErrorMessage)
	apiErr.target = shorten(apiErr.target, 100)

	return apiErr
}

// firstLine returns s up to its first line break: Entra and blob storage append
// trace ids and timestamps on further lines.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// shorten cuts s to at most n bytes, on a rune boundary.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}

	return s[:n] + "…"
}
