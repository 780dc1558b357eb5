package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-kit/log/level"
	"github.com/klauspost/compress/gzip"
)

// maxExportListBytes bounds the answer of the export endpoint, a list of URLs.
const maxExportListBytes = 16 << 20

var gzipMagic = []byte{0x1f, 0x8b}

// BaselineExportFiles asks where the current export can be downloaded:
// GET /api/machines/BaselineComplianceAssessmentExport, with sasValidHours when
// configured. An empty exportFiles list is a valid, empty export.
func (c *Client) BaselineExportFiles(ctx context.Context) (ExportFiles, error) {
	query := url.Values{}
	if c.cfg.SASValidHours > 0 {
		query.Set("sasValidHours", strconv.Itoa(c.cfg.SASValidHours))
	}

	body, err := c.get(ctx, request{endpoint: EndpointExport, url: c.apiURL(exportPath, query), bearer: true})
	if err != nil {
		return ExportFiles{}, err
	}
	defer body.Close()

	var answer struct {
		ExportFiles   []string `json:"exportFiles"`
		GeneratedTime Time     `json:"generatedTime"`
	}
	if err := json.NewDecoder(io.LimitReader(body, maxExportListBytes)).Decode(&answer); err != nil {
		return ExportFiles{}, body.readFailure("the export file list", err)
	}

	return ExportFiles{URLs: answer.ExportFiles, GeneratedTime: answer.GeneratedTime.Time}, nil
}

// DownloadBaselineExport reads every file of files into sink, DownloadWorkers
// files at a time. Each file is one part: it is streamed, never held in memory, and
// committed only when it was read to its end. An empty file holds no records.
//
// Download URLs carry their signature and get no Authorization header. When some
// have expired, the export endpoint is asked once for fresh URLs, the failed files
// are matched by path and read again; if the export was regenerated meanwhile the
// error wraps ErrSnapshotChanged. Only https URLs are followed unless AllowHTTP.
func (c *Client) DownloadBaselineExport(ctx context.Context, files ExportFiles, sink Sink) (Stats, error) {
	if err := c.checkExportURLs(files.URLs); err != nil {
		return Stats{}, err
	}

	stats, expired, err := c.downloadParts(ctx, files.URLs, sink)
	if err != nil || len(expired) == 0 {
		return stats, err
	}

	fresh, err := c.renewExpired(ctx, files.GeneratedTime, expired)
	if err != nil {
		return stats, err
	}

	again, expiredAgain, err := c.downloadParts(ctx, fresh, sink)
	stats.add(again)
	if err != nil {
		return stats, err
	}
	if len(expiredAgain) > 0 {
		return stats, fail(reasonExport, fmt.Errorf("export files refused again right after their URLs were renewed (%d): %w",
			len(expiredAgain), expiredAgain[0].err))
	}

	return stats, nil
}

// A refusedFile is an export file whose download URL was refused as expired.
type refusedFile struct {
	url string
	err error
}

// checkExportURLs refuses URLs that are not https (or http with AllowHTTP).
func (c *Client) checkExportURLs(urls []string) error {
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return fail(reasonExport, fmt.Errorf("invalid export file URL: %w", redactError(err)))
		}

		switch {
		case u.Scheme == "https" && u.Host != "":
		case u.Scheme == "http" && u.Host != "" && c.cfg.AllowHTTP:
		default:
			return failf(reasonExport, "export file URL %s refused: only https URLs are followed", RedactURL(raw))
		}
	}

	return nil
}

// renewExpired asks the export endpoint once more and returns the fresh URLs of
// the expired ones.
func (c *Client) renewExpired(ctx context.Context, generated time.Time, expired []refusedFile) ([]string, error) {
	level.Warn(c.logger).Log("msg", "export file URLs expired, asking for fresh ones", "files", len(expired),
		"err", expired[0].err)
	c.metrics.sasURLRefreshes.Inc()

	files, err := c.BaselineExportFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("renewing expired export file URLs: %w", err)
	}
	if !files.GeneratedTime.Equal(generated) {
		return nil, fail(reasonExport, fmt.Errorf("export generated at %s replaced by one generated at %s: %w",
			generated.Format(time.RFC3339), files.GeneratedTime.Format(time.RFC3339), ErrSnapshotChanged))
	}
	if err := c.checkExportURLs(files.URLs); err != nil {
		return nil, err
	}

	byPath := make(map[string]string, len(files.URLs))
	for _, u := range files.URLs {
		byPath[withoutQuery(u)] = u
	}

	renewed := make([]string, 0, len(expired))
	for _, file := range expired {
		fresh, ok := byPath[withoutQuery(file.url)]
		if !ok {
			return nil, failf(reasonExport, "export file %s is missing from the renewed list", RedactURL(file.url))
		}
		renewed = append(renewed, fresh)
	}

	return renewed, nil
}

// withoutQuery identifies a download URL across SAS renewals: scheme, host, path.
func withoutQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}

	return origin(u) + u.EscapedPath()
}

// downloadParts reads urls into sink with DownloadWorkers goroutines. It returns
// the files refused as expired apart; any other failure stops all downloads.
func (c *Client) downloadParts(ctx context.Context, urls []string, sink Sink) (Stats, []refusedFile, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		mu       sync.Mutex
		total    Stats
		expired  []refusedFile
		firstErr error
		workers  sync.WaitGroup
		jobs     = make(chan string)
	)

	for range min(c.cfg.DownloadWorkers, len(urls)) {
		workers.Go(func() {
			for u := range jobs {
				stats, err := c.downloadPart(ctx, u, sink)

				mu.Lock()
				total.add(stats)
				switch {
				case err == nil:
				case errors.Is(err, errSASExpired):
					expired = append(expired, refusedFile{url: u, err: err})
				case firstErr == nil:
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}

	feedJobs(ctx, jobs, urls)
	workers.Wait()

	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("downloading the export: %w", contextError(ctx))
	}

	return total, expired, firstErr
}

// feedJobs sends urls to jobs until all are taken or ctx ends, then closes jobs.
func feedJobs(ctx context.Context, jobs chan<- string, urls []string) {
	defer close(jobs)

	for _, u := range urls {
		select {
		case jobs <- u:
		case <-ctx.Done():
			return
		}
	}
}

// downloadPart streams one export file into a new part of sink. A transfer broken
// midway drops the part and reads the file again, within MaxRetries.
func (c *Client) downloadPart(ctx context.Context, u string, sink Sink) (Stats, error) {
	policy := newBackOff()

	var total Stats
	for retries := 0; ; retries++ {
		stats, err := c.readPart(ctx, u, sink)
		total.add(stats)
		if err == nil || !errors.Is(err, errTransferBroken) || retries >= c.cfg.MaxRetries {
			return total, err
		}

		if err := c.waitToRetry(ctx, EndpointExportFile, policy.NextBackOff(), false, err); err != nil {
			return total, err
		}
	}
}

// readPart makes one attempt at reading an export file into a new part of sink.
func (c *Client) readPart(ctx context.Context, u string, sink Sink) (Stats, error) {
	body, err := c.get(ctx, request{endpoint: EndpointExportFile, url: u, stream: true})
	if err != nil {
		return Stats{}, fmt.Errorf("export file %s: %w", RedactURL(u), err)
	}
	defer body.Close()

	lines, err := c.decodePart(body, sink)
	stats := Stats{Records: lines.Records, Skipped: lines.Skipped, Bytes: body.bytes}
	if err != nil {
		return stats, fmt.Errorf("export file %s: %w", RedactURL(u), err)
	}
	stats.Parts = 1

	level.Debug(c.logger).Log("msg", "export file read", "url", RedactURL(u), "records", lines.Records,
		"skipped", lines.Skipped, "bytes", body.bytes)

	return stats, nil
}

// decodePart decompresses body and hands its records to a new part, committed when
// the whole file was read.
func (c *Client) decodePart(body *responseBody, sink Sink) (LineStats, error) {
	buffered := bufio.NewReaderSize(body, 64<<10)

	// An empty blob is a file without records, not a corrupt gzip stream: check
	// before the gzip reader insists on a header.
	head, err := buffered.Peek(len(gzipMagic))
	switch {
	case len(head) == 0 && errors.Is(err, io.EOF):
		sink.CommitPart(sink.BeginPart())
		return LineStats{}, nil
	case err != nil && !errors.Is(err, io.EOF):
		return LineStats{}, body.readFailure("the file", err)
	case !bytes.Equal(head, gzipMagic):
		return LineStats{}, failf(reasonDecode, "not a gzip file (starts with %q)", head)
	}

	unzipped, err := gzip.NewReader(buffered)
	if err != nil {
		return LineStats{}, body.readFailure("the gzip header", err)
	}
	defer unzipped.Close()

	part := sink.BeginPart()
	limited := &sizeLimitedReader{r: unzipped, left: c.cfg.MaxFileBytes, limit: c.cfg.MaxFileBytes}
	lines, err := decodeLines(limited, part, c.cfg.MaxLineBytes)
	if err != nil {
		return lines, body.readFailure("the file", err)
	}
	sink.CommitPart(part)

	return lines, nil
}

// errFileTooLarge marks an export file that decompresses to more than MaxFileBytes.
var errFileTooLarge = errors.New("export file too large")

// sizeLimitedReader fails once more than limit bytes were read from r: a gzip bomb
// then costs bounded time instead of running until the refresh deadline.
type sizeLimitedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *sizeLimitedReader) Read(p []byte) (int, error) {
	// Reading one byte past the limit tells a file of exactly limit bytes from a
	// longer one.
	if int64(len(p)) > l.left {
		p = p[:l.left+1]
	}

	n, err := l.r.Read(p)
	if int64(n) > l.left {
		n, l.left = int(l.left), 0
		return n, failf(reasonDecode, "%w: it decompresses to more than %d bytes", errFileTooLarge, l.limit)
	}
	l.left -= int64(n)

	return n, err
}
