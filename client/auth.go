package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenSource hands out the API access token. It caches the token, renews it at
// 80 % of the lifetime Entra ID announced, and forgets it when the API rejects it.
type tokenSource struct {
	client *Client
	config clientcredentials.Config

	// fetching lets one caller at a time ask for a new token.
	fetching chan struct{}

	mu    sync.Mutex
	token string
	// renewAt is when the token is renewed; zero when its lifetime is unknown,
	// in which case it is kept until the API rejects it.
	renewAt time.Time
}

func newTokenSource(c *Client, tokenURL string) *tokenSource {
	return &tokenSource{
		client: c,
		config: clientcredentials.Config{
			ClientID:     c.cfg.ClientID,
			ClientSecret: c.cfg.ClientSecret,
			TokenURL:     tokenURL,
			Scopes:       []string{c.cfg.Scope},
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		fetching: make(chan struct{}, 1),
	}
}

// accessToken returns a valid access token, asking Entra ID for a new one when the
// cached one is due for renewal or was rejected.
func (s *tokenSource) accessToken(ctx context.Context) (string, error) {
	if token, fresh := s.cached(); fresh {
		return token, nil
	}

	select {
	case s.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for an access token: %w", contextError(ctx))
	}
	defer func() { <-s.fetching }()

	// Another caller may have renewed the token while this one waited.
	if token, fresh := s.cached(); fresh {
		return token, nil
	}

	obtained, requested := s.client.now(), time.Now()
	token, err := s.fetch(ctx)
	if err != nil {
		return "", err
	}
	s.store(token, obtained, lifetime(token, requested))

	return token.AccessToken, nil
}

func (s *tokenSource) cached() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()

	fresh := s.token != "" && (s.renewAt.IsZero() || s.client.now().Before(s.renewAt))

	return s.token, fresh
}

func (s *tokenSource) store(token *oauth2.Token, obtained time.Time, lifetime time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.token = token.AccessToken
	s.renewAt = time.Time{}
	if lifetime > 0 {
		s.renewAt = obtained.Add(lifetime * 8 / 10)
	}

	level.Debug(s.client.logger).Log("msg", "access token obtained", "lifetime_seconds", lifetime.Seconds(),
		"renew_at", s.renewAt)
}

// lifetime returns how long token is valid: expires_in as Entra ID sent it (a
// number from the v2 endpoint, a string from v1), or else the time from requested
// to its expiry. It is 0 when the answer did not say.
func lifetime(token *oauth2.Token, requested time.Time) time.Duration {
	if token.ExpiresIn > 0 {
		return time.Duration(token.ExpiresIn) * time.Second
	}

	var seconds float64
	switch v := token.Extra("expires_in").(type) {
	case float64:
		seconds = v
	case string:
		seconds, _ = strconv.ParseFloat(v, 64)
	}
	if seconds > 0 {
		return time.Duration(seconds * float64(time.Second))
	}

	if token.Expiry.IsZero() {
		return 0
	}

	return token.Expiry.Sub(requested)
}

// invalidate forgets token after the API rejected it, unless it was replaced since.
func (s *tokenSource) invalidate(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if s.token == token {
		s.token = ""
	}
}

// fetch asks for a new token. Server errors and network errors are retried with
// backoff; a 4xx answer (wrong secret, unknown tenant, invalid scope) is final.
func (s *tokenSource) fetch(ctx context.Context) (*oauth2.Token, error) {
	c := s.client
	policy := newBackOff()

	for retries := 0; ; retries++ {
		token, temporary, err := s.request(ctx)
		switch {
		case err == nil:
			return token, nil
		case ctx.Err() != nil:
			// The caller gave up: not a failure of the token endpoint.
			return nil, err
		}
		c.metrics.tokenFailures.Inc()

		if !temporary || retries >= c.cfg.MaxRetries {
			logTokenFailure(c, err)
			return nil, giveUp(err, retries)
		}

		if err := c.waitToRetry(ctx, EndpointToken, policy.NextBackOff(), false, err); err != nil {
			return nil, err
		}
	}
}

// request makes one token request. It reports whether a failure is temporary.
func (s *tokenSource) request(ctx context.Context) (*oauth2.Token, bool, error) {
	c := s.client
	if err := c.pace(ctx, EndpointToken); err != nil {
		return nil, false, err
	}

	timeout := failf(reasonTimeout, "no token within %s", c.cfg.RequestTimeout)
	attemptCtx, cancel := context.WithTimeoutCause(ctx, c.cfg.RequestTimeout, timeout)
	defer cancel()
	attemptCtx = context.WithValue(withEndpoint(attemptCtx, EndpointToken), oauth2.HTTPClient, c.http)

	token, err := s.config.Token(attemptCtx)

	var retrieveErr *oauth2.RetrieveError
	var urlErr *url.Error
	switch {
	case err == nil:
		return token, false, nil
	case errors.As(err, &retrieveErr):
		rejected := newTokenError(retrieveErr, c.cfg.ClientSecret)
		return nil, rejected.temporary(), fail(reasonAuth, rejected)
	case ctx.Err() != nil:
		return nil, false, fmt.Errorf("requesting an access token: %w", contextError(ctx))
	case attemptCtx.Err() != nil:
		// The request timeout ended this attempt only.
		return nil, true, fmt.Errorf("requesting an access token: %w", context.Cause(attemptCtx))
	case errors.As(err, &urlErr):
		return nil, true, fail(reasonAuth, fmt.Errorf("requesting an access token: %w", redactError(err)))
	default:
		return nil, false, fail(reasonAuth, fmt.Errorf("requesting an access token: %w", redactError(err)))
	}
}

func logTokenFailure(c *Client, err error) {
	var rejected *tokenError
	if !errors.As(err, &rejected) {
		level.Error(c.logger).Log("msg", "cannot get an access token", "err", err)
		return
	}

	level.Error(c.logger).Log("msg", "token request rejected", "status", rejected.statusCode,
		"error", rejected.code, "aadsts", rejected.aadsts, "err", err)
}

// tokenError is an answer of the token endpoint other than a token, described by
// its OAuth2 error and Entra ID's AADSTS code.
type tokenError struct {
	statusCode int
	// code is the OAuth2 error, e.g. invalid_client.
	code string
	// aadsts is Entra ID's error code, e.g. AADSTS7000215 (wrong secret).
	aadsts string
	// description is the first line of error_description, without trace ids.
	description string
}

var aadstsPattern = regexp.MustCompile(`AADSTS\d+`)

func newTokenError(retrieveErr *oauth2.RetrieveError, secret string) *tokenError {
	e := &tokenError{
		code:        retrieveErr.ErrorCode,
		aadsts:      aadstsCode(retrieveErr),
		description: firstLine(retrieveErr.ErrorDescription),
	}
	if retrieveErr.Response != nil {
		e.statusCode = retrieveErr.Response.StatusCode
	}

	// The description usually starts with the code, which Error already shows.
	e.description = strings.TrimPrefix(e.description, e.aadsts+": ")
	if secret != "" {
		e.description = strings.ReplaceAll(e.description, secret, redacted)
	}
	e.description = shorten(e.description, maxErrorMessage)

	return e
}

// aadstsCode finds the AADSTS code in error_codes, or else in error_description.
func aadstsCode(retrieveErr *oauth2.RetrieveError) string {
	var body struct {
		ErrorCodes []int64 `json:"error_codes"`
	}
	if json.Unmarshal(retrieveErr.Body, &body) == nil && len(body.ErrorCodes) > 0 {
		return "AADSTS" + strconv.FormatInt(body.ErrorCodes[0], 10)
	}

	return aadstsPattern.FindString(retrieveErr.ErrorDescription)
}

func (e *tokenError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "token request failed: HTTP %d", e.statusCode)
	if e.code != "" {
		b.WriteString(" " + e.code)
	}
	if e.aadsts != "" {
		b.WriteString(" " + e.aadsts)
	}
	if e.description != "" {
		b.WriteString(": " + e.description)
	}

	return b.String()
}

// temporary reports whether asking again may succeed.
func (e *tokenError) temporary() bool {
	return e.statusCode >= 500 || e.statusCode == http.StatusTooManyRequests || e.statusCode == http.StatusRequestTimeout
}
