package client

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

const redacted = "REDACTED"

// RedactURL returns u fit for logs and errors: scheme, host and path are kept, the
// query keys too, but every query value (a SAS signature, a skiptoken) becomes
// REDACTED. User info and fragment are dropped.
func RedactURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return redactUnparsable(u)
	}

	parsed.User = nil
	parsed.Fragment, parsed.RawFragment = "", ""
	parsed.RawQuery = redactQuery(parsed.RawQuery)

	return parsed.String()
}

// redactQuery keeps the keys of a raw query, in their order, and hides the values.
func redactQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}

	var pairs []string
	for pair := range strings.SplitSeq(rawQuery, "&") {
		if pair == "" {
			continue
		}
		key, _, _ := strings.Cut(pair, "=")
		pairs = append(pairs, key+"="+redacted)
	}

	return strings.Join(pairs, "&")
}

// redactUnparsable hides everything after the path of a URL that does not parse,
// since its keys cannot be told apart reliably.
func redactUnparsable(u string) string {
	u, _, _ = strings.Cut(u, "#")
	if base, _, found := strings.Cut(u, "?"); found {
		return base + "?" + redacted
	}

	return u
}

// urlPattern finds URLs inside free text, such as error messages of net/http that
// quote a redirect's Location.
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// redactURLsIn applies RedactURL to every URL in text.
func redactURLsIn(text string) string {
	return urlPattern.ReplaceAllStringFunc(text, func(u string) string {
		if !strings.ContainsAny(u, "?#@") {
			return u
		}
		return RedactURL(u)
	})
}

// redactedError hides URL secrets in the message of an error from net/http, which
// quotes the full request URL (with its SAS signature) in a *url.Error.
type redactedError struct{ err error }

func (e *redactedError) Error() string { return redactURLsIn(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// redactError returns err with every URL in it redacted, in its message and in the
// URL field of a *url.Error (which net/http creates anew for each call).
func redactError(err error) error {
	if err == nil {
		return nil
	}

	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		urlErr.URL = RedactURL(urlErr.URL)
	}

	return &redactedError{err: err}
}
