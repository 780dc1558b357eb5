package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is wrapped by the error for an export file line longer than the
// limit given to decodeLines.
var ErrLineTooLong = errors.New("line too long")

// defaultMaxRecordBytes bounds a line or a page element when the caller gives no
// limit. A baseline record is about 1 KB.
const defaultMaxRecordBytes = 1 << 20

// lineBufferSize is the bufio buffer of decodeLines. Longer lines (up to the limit)
// are gathered in a second buffer.
const lineBufferSize = 64 << 10

// LineStats counts what decodeLines read.
type LineStats struct {
	// Records is the number of records handed to the PartSink.
	Records int64
	// Skipped is the number of records without deviceId, profileId or
	// configurationId (ErrMissingKey).
	Skipped int64
	// Lines is the number of lines read, blank ones included.
	Lines int64
}

// decodeLines reads NDJSON, one record per line as in the decompressed export files,
// and hands each record to part.
//
// Blank lines, a missing final newline, CRLF line endings and a leading UTF-8 BOM are
// tolerated. A line longer than maxLine bytes (line ending excluded) fails with an
// error wrapping ErrLineTooLong; a malformed line fails with an error naming its
// number. maxLine <= 0 selects a limit of 1 MiB. Memory use does not depend on the
// size of the input: one read buffer and one decoder are reused for every line.
func decodeLines(r io.Reader, part PartSink, maxLine int) (LineStats, error) {
	if maxLine <= 0 {
		maxLine = defaultMaxRecordBytes
	}

	var (
		stats  LineStats
		dec    AssessmentDecoder
		record Assessment
		lines  = newLineReader(r, maxLine)
	)

	for {
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			return stats, nil
		}
		if err != nil {
			return stats, fmt.Errorf("line %d: %w", stats.Lines+1, err)
		}

		stats.Lines++
		if stats.Lines == 1 {
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if skipSpace(line, 0) == len(line) {
			continue
		}

		switch err := dec.Decode(line, &record); {
		case err == nil:
			part.Add(&record)
			stats.Records++
		case errors.Is(err, ErrMissingKey):
			stats.Skipped++
		default:
			return stats, fmt.Errorf("line %d: %w", stats.Lines, err)
		}
	}
}

// lineReader splits a stream into lines without allocating per line.
type lineReader struct {
	buffered *bufio.Reader
	// long gathers a line that does not fit in the bufio buffer.
	long    []byte
	maxLine int
}

func newLineReader(r io.Reader, maxLine int) *lineReader {
	return &lineReader{
		buffered: bufio.NewReaderSize(r, lineBufferSize),
		maxLine:  maxLine,
	}
}

// next returns the next line without its line ending. The line is valid until the
// next call. At the end of the input next returns io.EOF.
func (lr *lineReader) next() ([]byte, error) {
	line, err := lr.buffered.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		line, err = lr.readLong(line)
	}

	switch {
	case errors.Is(err, io.EOF) && len(line) > 0:
		// The last line has no newline.
	case err != nil:
		return nil, err
	}

	line = trimLineEnding(line)
	if len(line) > lr.maxLine {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, lr.maxLine)
	}

	return line, nil
}

// readLong gathers the rest of a line that filled the bufio buffer, giving up as
// soon as it is certainly longer than maxLine.
func (lr *lineReader) readLong(head []byte) ([]byte, error) {
	lr.long = append(lr.long[:0], head...)

	for {
		if len(lr.long) > lr.maxLine+len("\r\n") {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, lr.maxLine)
		}

		chunk, err := lr.buffered.ReadSlice('\n')
		lr.long = append(lr.long, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return lr.long, err
		}
	}
}

func trimLineEnding(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))

	return bytes.TrimSuffix(line, []byte("\r"))
}
