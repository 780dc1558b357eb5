package client

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-kit/log/level"
)

// BaselineAssessments reads the whole assessment through the paginated JSON API:
// GET /api/machines/BaselineComplianceAssessmentByMachine?pageSize=N, then every
// @odata.nextLink verbatim until it is absent or null. The run is one part of sink,
// committed only after its last page. When the API refuses a nextLink with 400
// after the first page (the snapshot it paged over was replaced), the part is
// dropped and the run starts over, once. A run that makes no progress fails with
// reason pagination: a nextLink already followed, a page that repeats the records
// of an earlier one, more than MaxPages pages.
func (c *Client) BaselineAssessments(ctx context.Context, sink Sink) (Stats, error) {
	stats, err := c.readAssessments(ctx, sink)
	if !errors.Is(err, errCursorExpired) {
		return stats, err
	}

	level.Warn(c.logger).Log("msg", "nextLink refused, reading the assessment again from the first page",
		"endpoint", EndpointAssessments, "pages_dropped", stats.Pages, "err", err)

	again, err := c.readAssessments(ctx, sink)
	stats.add(again)

	return stats, err
}

// readAssessments makes one run through the pages.
func (c *Client) readAssessments(ctx context.Context, sink Sink) (Stats, error) {
	first := c.apiURL(assessmentsPath, url.Values{"pageSize": {strconv.Itoa(c.cfg.PageSize)}})
	pages := c.newCursor(first)
	part := newDigestingPart(sink.BeginPart())
	digests := make(map[pageDigest]int)

	var stats Stats
	for link := first; link != ""; {
		part.digest = pageDigest{}
		nextLink, err := c.readAssessmentPage(ctx, link, part, &stats)
		if err != nil {
			return stats, err
		}

		if err := checkProgress(digests, part.digest, stats.Pages); err != nil {
			return stats, err
		}

		if link, err = pages.follow(link, nextLink); err != nil {
			return stats, err
		}
	}

	sink.CommitPart(part.part)
	stats.Parts++

	return stats, nil
}

// readAssessmentPage streams one page into part and returns its nextLink.
func (c *Client) readAssessmentPage(ctx context.Context, link string, part PartSink, stats *Stats) (string, error) {
	body, err := c.get(ctx, request{endpoint: EndpointAssessments, url: link, bearer: true})
	if err != nil {
		if stats.Pages > 0 && hasStatus(err, http.StatusBadRequest) {
			return "", fail(reasonPagination, fmt.Errorf("page %d: %w: %w", stats.Pages+1, errCursorExpired, err))
		}
		return "", fmt.Errorf("assessment page %d: %w", stats.Pages+1, err)
	}
	defer body.Close()

	page, err := decodePage(body, part, c.cfg.MaxLineBytes)
	stats.Pages++
	stats.Records += page.Records
	stats.Skipped += page.Skipped
	stats.Bytes += body.bytes
	if err != nil {
		return "", fmt.Errorf("assessment page %d: %w", stats.Pages, body.readFailure("the page", err))
	}

	return page.NextLink, nil
}

// A cursor follows the nextLinks of one paginated run. It refuses a link that
// would send the access token to another host, one already followed, and more
// than MaxPages pages.
type cursor struct {
	origin   string
	seen     map[string]bool
	maxPages int
}

func (c *Client) newCursor(first string) *cursor {
	return &cursor{
		origin:   origin(c.api),
		seen:     map[string]bool{first: true},
		maxPages: c.cfg.MaxPages,
	}
}

// follow returns the URL of the page after current, "" when nextLink ends the run.
// An absolute nextLink is used verbatim, never rebuilt; a relative one is resolved
// against current.
func (cur *cursor) follow(current, nextLink string) (string, error) {
	if nextLink == "" {
		return "", nil
	}

	link, target, err := resolveLink(current, nextLink)
	if err != nil {
		return "", fail(reasonPagination, fmt.Errorf("invalid nextLink: %w", err))
	}

	switch {
	case origin(target) != cur.origin:
		return "", failf(reasonPagination, "nextLink %s leaves the API at %s: the access token is not sent there",
			RedactURL(link), cur.origin)
	case cur.seen[link]:
		return "", failf(reasonPagination, "nextLink %s was already followed: the pagination loops", RedactURL(link))
	case len(cur.seen) >= cur.maxPages:
		return "", failf(reasonPagination, "more than %d pages: raise the page limit or the page size", cur.maxPages)
	}

	cur.seen[link] = true

	return link, nil
}

func resolveLink(current, nextLink string) (string, *url.URL, error) {
	target, err := url.Parse(nextLink)
	if err != nil {
		return "", nil, redactError(err)
	}
	if target.IsAbs() {
		return nextLink, target, nil
	}

	base, err := url.Parse(current)
	if err != nil {
		return "", nil, redactError(err)
	}
	resolved := base.ResolveReference(target)

	return resolved.String(), resolved, nil
}

// origin returns scheme, host and port of u in a canonical form.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
	}

	return strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// A pageDigest sums a hash of the key of every record of one page: the same records
// in any order give the same digest.
type pageDigest struct {
	records int64
	sum     uint64
}

// digestingPart passes records on to part and digests the page being read.
type digestingPart struct {
	part   PartSink
	hash   maphash.Hash
	digest pageDigest
}

func newDigestingPart(part PartSink) *digestingPart {
	return &digestingPart{part: part}
}

// Add implements PartSink.
func (d *digestingPart) Add(a *Assessment) {
	d.hash.Reset()
	_, _ = d.hash.Write(a.DeviceID)
	_ = d.hash.WriteByte(0)
	_, _ = d.hash.Write(a.ProfileID)
	_ = d.hash.WriteByte(0)
	_, _ = d.hash.Write(a.ConfigurationID)

	d.digest.sum += d.hash.Sum64()
	d.digest.records++
	d.part.Add(a)
}

// checkProgress refuses a page whose records are exactly those of an earlier page
// of the run: a cursor that makes no progress under ever new nextLinks. digests
// maps the digest of every page read so far to its number.
//
// TODO: a page that repeats a mix of records from several earlier pages is not
// noticed; that would need every key of the run in memory.
func checkProgress(digests map[pageDigest]int, digest pageDigest, page int) error {
	if digest.records == 0 {
		return nil
	}
	if earlier, seen := digests[digest]; seen {
		return failf(reasonPagination, "page %d repeats the %d records of page %d: the pagination makes no progress",
			page, digest.records, earlier)
	}
	digests[digest] = page

	return nil
}
