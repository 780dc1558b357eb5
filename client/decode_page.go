package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrRecordTooLong is wrapped by the error for an element of a page, or any other
// value in it, larger than the limit given to decodePage.
var ErrRecordTooLong = errors.New("record too long")

// pageBufferSize is the initial read window of decodePage. It grows, up to about
// twice the record limit, only for a record that does not fit.
const pageBufferSize = 64 << 10

// maxEmptyReads is how many reads in a row may return no data and no error before
// the reader is deemed broken, as in bufio.
const maxEmptyReads = 100

// PageStats describes one page read by decodePage.
type PageStats struct {
	// Records is the number of records handed to the PartSink.
	Records int64
	// Skipped is the number of records without deviceId, profileId or
	// configurationId (ErrMissingKey).
	Skipped int64
	// NextLink is the @odata.nextLink to follow verbatim, "" on the last page.
	NextLink string
	// Context is the @odata.context of the page.
	Context string
}

// decodePage streams one page of the JSON API,
// {"@odata.context":…,"value":[{…},…],"@odata.nextLink":…}, from r and hands each
// element of value to part.
//
// Members may come in any order and unknown ones are skipped; an absent or null
// nextLink gives "", as does null for context; a null value holds no records. A
// leading UTF-8 BOM is tolerated. Only one element is held at a time: the page is
// read through a window that grows only while one element does not fit in it, up to
// maxRecord bytes (maxRecord <= 0 selects 1 MiB). Elements are decoded in place by the
// AssessmentDecoder.
func decodePage(r io.Reader, part PartSink, maxRecord int) (PageStats, error) {
	return newPageReader(r, maxRecord, pageBufferSize).decode(part)
}

// A pageReader tokenizes a page through a window over the stream. Each token is
// scanned by the same functions as a record; when one runs out of input, the window
// is refilled and the token scanned again from its start.
type pageReader struct {
	r io.Reader
	// buf holds the window; buf[pos:] is unread.
	buf []byte
	pos int
	// base is the stream offset of buf[0], for error messages.
	base int
	// eof is set once r is exhausted.
	eof bool
	// limit bounds the size of one token: an element, a string, a skipped value.
	limit int

	dec    AssessmentDecoder
	record Assessment
}

// newPageReader returns a pageReader whose window starts at window bytes.
func newPageReader(r io.Reader, maxRecord, window int) *pageReader {
	if maxRecord <= 0 {
		maxRecord = defaultMaxRecordBytes
	}

	return &pageReader{
		r:     r,
		buf:   make([]byte, 0, max(window, 1)),
		limit: maxRecord,
	}
}

// decode reads the page, handing its records to part.
func (p *pageReader) decode(part PartSink) (PageStats, error) {
	var stats PageStats
	if err := p.readEnvelope(part, &stats); err != nil {
		return stats, fmt.Errorf("decoding page: %w", err)
	}

	return stats, nil
}

// envelope members of interest.
type member uint8

const (
	memberOther member = iota
	memberContext
	memberValue
	memberNextLink
)

// readEnvelope reads the page object and what follows it.
func (p *pageReader) readEnvelope(part PartSink, stats *PageStats) error {
	if err := p.skipBOM(); err != nil {
		return err
	}

	if err := p.expect('{', "looking for the start of the page object"); err != nil {
		return err
	}

	empty, err := p.consume('}')
	if err != nil {
		return err
	}

	for more := !empty; more; {
		if err := p.readMember(part, stats); err != nil {
			return err
		}

		if more, err = p.more('}', "after a page member"); err != nil {
			return err
		}
	}

	return p.expectEnd()
}

// readMember reads one "key": value member of the envelope.
func (p *pageReader) readMember(part PartSink, stats *PageStats) error {
	m, err := p.readKey()
	if err != nil {
		return err
	}

	switch m {
	case memberValue:
		return p.readRecords(part, stats)
	case memberContext:
		stats.Context, err = p.readOptionalString("@odata.context")
	case memberNextLink:
		stats.NextLink, err = p.readOptionalString("@odata.nextLink")
	default:
		err = p.scan(func(data []byte, i int) (int, error) {
			return skipValue(data, skipSpace(data, i), 1)
		})
	}

	return err
}

// readKey reads a member key and its colon. Keys are matched ignoring case.
func (p *pageReader) readKey() (member, error) {
	var m member

	err := p.scan(func(data []byte, i int) (int, error) {
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, errUnexpectedEnd
		}
		if data[i] != '"' {
			return 0, invalidChar(data, i, "looking for the start of a page member key")
		}

		key, end, err := p.dec.readString(data, i)
		if err != nil {
			return 0, err
		}
		m = classifyMember(key)
		p.dec.scratch = p.dec.scratch[:0]

		return skipColon(data, end)
	})

	return m, err
}

func classifyMember(key []byte) member {
	switch {
	case bytes.EqualFold(key, []byte("value")):
		return memberValue
	case bytes.EqualFold(key, []byte("@odata.nextLink")):
		return memberNextLink
	case bytes.EqualFold(key, []byte("@odata.context")):
		return memberContext
	}

	return memberOther
}

// readOptionalString reads a string or null ("").
func (p *pageReader) readOptionalString(name string) (string, error) {
	var value string

	err := p.scan(func(data []byte, i int) (int, error) {
		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, errUnexpectedEnd
		}

		switch data[i] {
		case 'n':
			value = ""
			return expectLiteral(data, i, "null")
		case '"':
			s, end, err := p.dec.readString(data, i)
			value = string(s)
			p.dec.scratch = p.dec.scratch[:0]
			return end, err
		default:
			return 0, &SyntaxError{Offset: i, Reason: fmt.Sprintf("%q: expected a string or null, found %s", name, quoteByte(data[i]))}
		}
	})

	return value, err
}

// readRecords reads the value array, handing each element to part.
func (p *pageReader) readRecords(part PartSink, stats *PageStats) error {
	c, err := p.peek()
	if err != nil {
		return err
	}
	if c == 'n' {
		return p.scan(func(data []byte, i int) (int, error) {
			return expectLiteral(data, i, "null")
		})
	}

	if err := p.expect('[', `looking for the start of the "value" array`); err != nil {
		return err
	}

	empty, err := p.consume(']')
	if err != nil {
		return err
	}

	for more := !empty; more; {
		if err := p.readRecord(part, stats); err != nil {
			return fmt.Errorf("record %d: %w", stats.Records+stats.Skipped+1, err)
		}

		if more, err = p.more(']', `after an element of "value"`); err != nil {
			return err
		}
	}

	return nil
}

// readRecord decodes one element in place in the window and hands it to part.
func (p *pageReader) readRecord(part PartSink, stats *PageStats) error {
	err := p.scan(func(data []byte, i int) (int, error) {
		return p.dec.decodeRecord(data, skipSpace(data, i), &p.record)
	})
	if err != nil {
		return err
	}

	if errors.Is(checkRequiredKeys(&p.record), ErrMissingKey) {
		stats.Skipped++
		return nil
	}

	part.Add(&p.record)
	stats.Records++

	return nil
}

// expect consumes optional whitespace and the byte c.
func (p *pageReader) expect(c byte, context string) error {
	found, err := p.consume(c)
	if err == nil && !found {
		err = p.invalidChar(p.pos, context)
	}

	return err
}

// consume consumes optional whitespace, and c if it comes next. It reports whether
// c was there.
func (p *pageReader) consume(c byte) (bool, error) {
	next, err := p.peek()
	if err != nil || next != c {
		return false, err
	}
	p.pos++

	return true, nil
}

// more consumes what follows a member or an element: a comma, with more to come,
// or the closing bracket or brace.
func (p *pageReader) more(closing byte, context string) (bool, error) {
	next, err := p.peek()
	if err != nil {
		return false, err
	}

	switch next {
	case ',':
		p.pos++
		return true, nil
	case closing:
		p.pos++
		return false, nil
	default:
		return false, p.invalidChar(p.pos, context)
	}
}

// peek consumes whitespace and returns the next byte without consuming it.
func (p *pageReader) peek() (byte, error) {
	err := p.scan(func(data []byte, i int) (int, error) {
		if i = skipSpace(data, i); i >= len(data) {
			return 0, errUnexpectedEnd
		}
		return i, nil
	})
	if err != nil {
		return 0, err
	}

	return p.buf[p.pos], nil
}

// expectEnd checks that only whitespace follows the page object.
func (p *pageReader) expectEnd() error {
	return p.scan(func(data []byte, i int) (int, error) {
		i = skipSpace(data, i)
		switch {
		case i < len(data):
			return 0, invalidChar(data, i, "after the page object")
		case !p.eof:
			return 0, errUnexpectedEnd
		}
		return i, nil
	})
}

// skipBOM skips a leading UTF-8 byte order mark.
func (p *pageReader) skipBOM() error {
	for len(p.buf)-p.pos < len(utf8BOM) && !p.eof {
		if err := p.fill(); err != nil {
			return err
		}
	}

	if bytes.HasPrefix(p.buf[p.pos:], utf8BOM) {
		p.pos += len(utf8BOM)
	}

	return nil
}

// scan runs fn on the window from the read position and consumes what it scanned.
// While fn runs out of input, the window is refilled and fn run again. A token
// that ends exactly at the end of the window counts as running out too: a number
// such as 12 may go on as 12.5 in the next read.
func (p *pageReader) scan(fn func(data []byte, i int) (int, error)) error {
	for {
		end, err := fn(p.buf, p.pos)

		switch {
		case err == nil && (end < len(p.buf) || p.eof):
			if end-p.pos > p.limit {
				return p.tooLong()
			}
			p.pos = end
			return nil
		case err != nil && (!errors.Is(err, errUnexpectedEnd) || p.eof):
			return p.locate(err)
		}

		if err := p.fill(); err != nil {
			return err
		}
	}
}

// fill moves the unread bytes to the front of the window, grows the window if they
// fill it, and reads more.
func (p *pageReader) fill() error {
	unread := len(p.buf) - p.pos
	if unread >= p.limit {
		return p.tooLong()
	}

	if p.pos > 0 {
		copy(p.buf, p.buf[p.pos:])
		p.base += p.pos
		p.buf = p.buf[:unread]
		p.pos = 0
	}

	if len(p.buf) == cap(p.buf) {
		grown := make([]byte, len(p.buf), 2*cap(p.buf))
		copy(grown, p.buf)
		p.buf = grown
	}

	return p.read()
}

// read fills the free part of the window, or reads up to the end of the input.
// Filling it all keeps the number of records scanned twice (once before a refill,
// once after) to about one per window.
func (p *pageReader) read() error {
	for emptyReads := 0; len(p.buf) < cap(p.buf); {
		n, err := p.r.Read(p.buf[len(p.buf):cap(p.buf)])
		p.buf = p.buf[:len(p.buf)+n]

		switch {
		case errors.Is(err, io.EOF):
			p.eof = true
			return nil
		case err != nil:
			return fmt.Errorf("reading page at offset %d: %w", p.base+len(p.buf), err)
		case n > 0:
			emptyReads = 0
		default:
			if emptyReads++; emptyReads == maxEmptyReads {
				return fmt.Errorf("reading page at offset %d: %w", p.base+len(p.buf), io.ErrNoProgress)
			}
		}
	}

	return nil
}

func (p *pageReader) tooLong() error {
	return fmt.Errorf("%w: more than %d bytes at offset %d", ErrRecordTooLong, p.limit, p.base+p.pos)
}

func (p *pageReader) invalidChar(i int, context string) error {
	return p.locate(invalidChar(p.buf, i, context))
}

// locate turns window offsets in a *SyntaxError into stream offsets, and the end
// of the input into a *SyntaxError.
func (p *pageReader) locate(err error) error {
	if errors.Is(err, errUnexpectedEnd) {
		return endOfInput(p.base + len(p.buf))
	}

	var se *SyntaxError
	if !errors.As(err, &se) {
		return err
	}

	located := *se
	located.Offset += p.base

	return &located
}
