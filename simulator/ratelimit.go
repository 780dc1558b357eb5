package simulator

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// rateLimit is an endpoint's quota per tenant.
type rateLimit struct {
	perMinute, perHour int
}

// rateLimits are the documented quotas. Profiles and configurations have none
// documented; they get the 100/min, 1500/h that most other Defender APIs state.
var rateLimits = map[string]rateLimit{
	EndpointAssessments:    {perMinute: 30, perHour: 1000},
	EndpointExport:         {perMinute: 5, perHour: 20},
	EndpointProfiles:       {perMinute: 100, perHour: 1500},
	EndpointConfigurations: {perMinute: 100, perHour: 1500},
}

// throttle describes a refused request: which quota ran out and for how long.
type throttle struct {
	limit  int
	hourly bool
	wait   time.Duration
}

// limiter counts requests per endpoint in sliding windows of the tenant's clock.
type limiter struct {
	mu   sync.Mutex
	hits map[string][]time.Time // accepted requests of the last hour, oldest first
}

// take admits a request to endpoint at now, or says which quota is used up and
// when a request would be admitted again. Refused requests do not count.
func (l *limiter) take(endpoint string, now time.Time) (throttle, bool) {
	limit, ok := rateLimits[endpoint]
	if !ok {
		return throttle{}, true
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hits == nil {
		l.hits = make(map[string][]time.Time)
	}
	hits := l.hits[endpoint]
	for len(hits) > 0 && !hits[0].After(now.Add(-time.Hour)) {
		hits = hits[1:]
	}
	l.hits[endpoint] = hits

	lastMinute := 0
	for i := len(hits) - 1; i >= 0 && hits[i].After(now.Add(-time.Minute)); i-- {
		lastMinute++
	}
	switch {
	case lastMinute >= limit.perMinute:
		oldest := hits[len(hits)-limit.perMinute]
		return throttle{limit: limit.perMinute, wait: oldest.Add(time.Minute).Sub(now)}, false
	case len(hits) >= limit.perHour:
		oldest := hits[len(hits)-limit.perHour]
		return throttle{limit: limit.perHour, hourly: true, wait: oldest.Add(time.Hour).Sub(now)}, false
	}
	l.hits[endpoint] = append(hits, now)
	return throttle{}, true
}

// throttleBody is the 429 body seen from the Defender API, e.g.
// {"error":{"code":"429","message":"API calls quota exceeded! maximum allowed 30 per 00:01:00","target":"..."}}.
func throttleBody(code string, limit int, hourly bool) apiError {
	window := "00:01:00"
	if hourly {
		window = "01:00:00"
	}
	return apiError{Error: apiErrorDetail{
		Code:    code,
		Message: "API calls quota exceeded! maximum allowed " + strconv.Itoa(limit) + " per " + window,
		Target:  newRequestID(),
	}}
}

func writeThrottle(w http.ResponseWriter, code string, th throttle) {
	w.Header().Set("Retry-After", retryAfterSeconds(th.wait))
	writeJSONBody(w, http.StatusTooManyRequests, "application/json; charset=utf-8", throttleBody(code, th.limit, th.hourly))
}

// retryAfterSeconds is d in whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	return strconv.FormatInt(max(int64((d+time.Second-1)/time.Second), 1), 10)
}
