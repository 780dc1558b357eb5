package client

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestReason(t *testing.T) {
	apiErr := &apiError{endpoint: EndpointAssessments, statusCode: 503, code: "ServiceUnavailable"}

	expired, cancel := context.WithTimeoutCause(context.Background(), 0, errors.New("refresh took longer than 25m0s"))
	defer cancel()
	<-expired.Done()

	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no error", nil, ""},
		{"canceled refresh", fmt.Errorf("page 3: %w", context.Canceled), "canceled"},
		{"refresh deadline", fmt.Errorf("reading: %w", context.DeadlineExceeded), "timeout"},
		{"refresh deadline with its own cause", fmt.Errorf("waiting to retry: %w", contextError(expired)), "timeout"},
		{"classified and wrapped by the collector", fmt.Errorf("page through assessments: %w", fail(reasonHTTP, apiErr)), "http"},
		{"throttled", fail(reasonThrottled, apiErr), "throttled"},
		{"snapshot changed", fail(reasonExport, fmt.Errorf("x: %w", ErrSnapshotChanged)), "export"},
		{"unknown", errors.New("something else"), "other"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Reason(tt.err); got != tt.want {
				t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
