package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// ErrLineTooLong is wrapped by the error for an export file line longer than the
// limit given to decodeLines.
var ErrLineTooLong = errors.New("line too long")

// defaultMaxRecordBytes bounds a line or a page element when the caller gives no
// limit. A baseline record is about 1 KB.
const defaultMaxRecordBytes = 1 << 20

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

// Lines travel from the reader to the decoder in blocks of whole lines. A block
// is large enough to make handing it over cheap, and small enough for a few of
// them per part to stay in the CPU cache.
const (
	lineBlockSize = 64 << 10
	// lineBlocksPerPart bounds the blocks of one part in flight: read ahead,
	// waiting, or being decoded.
	lineBlocksPerPart = 4
)

// decodeLines reads NDJSON, one record per line as in the decompressed export files,
// and hands each record to part.
//
// Reading (which, for an export file, is decompressing) and decoding run
// concurrently: the calling goroutine reads blocks of whole lines, and another
// goroutine decodes them and calls part.Add. Both have stopped when decodeLines
// returns, so r and part may be used again.
//
// Blank lines, a missing final newline, CRLF line endings and a leading UTF-8 BOM are
// tolerated. A line longer than maxLine bytes (line ending excluded) fails with an
// error wrapping ErrLineTooLong; a malformed line fails with an error naming its
// number. maxLine <= 0 selects a limit of 1 MiB. Memory use does not depend on the
// size of the input: a few blocks and one decoder are reused for every line.
func decodeLines(r io.Reader, part PartSink, maxLine int) (LineStats, error) {
	if maxLine <= 0 {
		maxLine = defaultMaxRecordBytes
	}

	p := &linePipeline{
		maxLine: maxLine,
		full:    make(chan lineBlock, lineBlocksPerPart),
		free:    make(chan *[]byte, lineBlocksPerPart),
		stopped: make(chan struct{}),
	}

	var decoder sync.WaitGroup
	decoder.Go(func() { p.decode(part) })

	p.read(r)
	decoder.Wait()
	p.releaseBlocks()

	return p.stats, p.err
}

// linePipeline hands blocks of lines from the reader to the decoder.
type linePipeline struct {
	maxLine int

	// full carries blocks, and at last an error, from the reader to the decoder,
	// in order. It is closed at the end of the input.
	full chan lineBlock
	// free returns decoded blocks to the reader.
	free chan *[]byte
	// stopped is closed when the decoder gives up on a bad line; the reader then
	// stops too.
	stopped   chan struct{}
	allocated int

	// carry is the start of a line cut by the end of a block.
	carry []byte

	// Written by the decoder, read once it is done.
	stats LineStats
	err   error
}

// lineBlock is a run of whole lines, the last of which may lack its newline at
// the end of the input; or, with a nil buf, a read error.
type lineBlock struct {
	buf *[]byte
	err error
}

// blockPool keeps blocks between parts.
var blockPool = sync.Pool{New: func() any {
	b := make([]byte, 0, lineBlockSize)
	return &b
}}

// read fills blocks from r and sends them to the decoder until the input ends,
// reading fails, or the decoder stops. A line cut by the end of a block is
// carried to the start of the next one.
func (p *linePipeline) read(r io.Reader) {
	defer close(p.full)

	for {
		buf := p.freeBlock()
		if buf == nil {
			return
		}

		block := append((*buf)[:0], p.carry...)
		// A long line carried over doubles the block, so that reading it whole
		// costs time in proportion to its length.
		block, err := fill(r, block, max(lineBlockSize, 2*len(block)))
		*buf = block

		switch {
		case errors.Is(err, io.EOF):
			p.send(lineBlock{buf: buf})
			return
		case err != nil:
			// The line cut by the failure is not decoded: the read error
			// explains it.
			_ = p.cutAtLastLine(buf)
			if p.send(lineBlock{buf: buf}) {
				p.send(lineBlock{err: err})
			}
			return
		}

		if err := p.cutAtLastLine(buf); err != nil {
			p.send(lineBlock{err: err})
			return
		}
		if !p.send(lineBlock{buf: buf}) {
			return
		}
	}
}

// fill reads from r into block until it holds size bytes or reading fails.
func fill(r io.Reader, block []byte, size int) ([]byte, error) {
	block = growTo(block, size)
	for empty := 0; len(block) < size; {
		n, err := r.Read(block[len(block):size])
		block = block[:len(block)+n]
		if err != nil {
			return block, err
		}

		// A reader that keeps returning nothing is broken, as bufio judges.
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return block, io.ErrNoProgress
		}
	}
	return block, nil
}

func growTo(b []byte, size int) []byte {
	if cap(b) >= size {
		return b
	}
	grown := make([]byte, len(b), size)
	copy(grown, b)
	return grown
}

// cutAtLastLine moves the unfinished last line of the block to carry. A line that
// fills the whole block stays in carry, and the block goes out empty; once it is
// certainly longer than maxLine, reading stops with ErrLineTooLong.
func (p *linePipeline) cutAtLastLine(buf *[]byte) error {
	block := *buf
	cut := bytes.LastIndexByte(block, '\n') + 1

	p.carry = append(p.carry[:0], block[cut:]...)
	*buf = block[:cut]

	if len(p.carry) > p.maxLine+len("\r\n") {
		return lineTooLong(p.maxLine)
	}
	return nil
}

// freeBlock returns a block to fill: a new one while fewer than
// lineBlocksPerPart are in use, else one the decoder is done with. It returns
// nil once the decoder has stopped.
func (p *linePipeline) freeBlock() *[]byte {
	if p.allocated < lineBlocksPerPart {
		p.allocated++
		return blockPool.Get().(*[]byte)
	}

	select {
	case buf := <-p.free:
		return buf
	case <-p.stopped:
		return nil
	}
}

// send hands b to the decoder and reports whether it is still decoding.
func (p *linePipeline) send(b lineBlock) bool {
	select {
	case p.full <- b:
		return true
	case <-p.stopped:
		return false
	}
}

// releaseBlocks puts the blocks back into the pool once both sides are done.
// Blocks grown for a long line are left to the garbage collector.
func (p *linePipeline) releaseBlocks() {
	close(p.free)
	for buf := range p.free {
		if cap(*buf) <= 2*lineBlockSize {
			blockPool.Put(buf)
		}
	}
}

// decode decodes the lines of each block in turn and returns the block.
func (p *linePipeline) decode(part PartSink) {
	var lines lineDecoder
	lines.part, lines.maxLine, lines.stats = part, p.maxLine, &p.stats

	for b := range p.full {
		if p.err != nil {
			continue // drain, so that the reader never waits on a full channel
		}
		if b.err != nil {
			p.fail(fmt.Errorf("line %d: %w", p.stats.Lines+1, b.err))
			continue
		}

		if err := lines.decodeBlock(*b.buf); err != nil {
			p.fail(err)
		}
		p.free <- b.buf
	}
}

func (p *linePipeline) fail(err error) {
	p.err = err
	close(p.stopped)
}

// lineDecoder decodes lines into records for a PartSink.
type lineDecoder struct {
	part    PartSink
	maxLine int
	stats   *LineStats
	dec     AssessmentDecoder
	record  Assessment
}

// decodeBlock decodes every line of block.
func (ld *lineDecoder) decodeBlock(block []byte) error {
	for len(block) > 0 {
		end := bytes.IndexByte(block, '\n')
		if end < 0 {
			end = len(block) - 1 // the last line of the input, without newline
		}

		line := trimLineEnding(block[:end+1])
		block = block[end+1:]

		if err := ld.decodeLine(line); err != nil {
			return err
		}
	}
	return nil
}

// decodeLine decodes one line, without its line ending.
func (ld *lineDecoder) decodeLine(line []byte) error {
	stats := ld.stats
	if len(line) > ld.maxLine {
		return fmt.Errorf("line %d: %w", stats.Lines+1, lineTooLong(ld.maxLine))
	}

	stats.Lines++
	if stats.Lines == 1 {
		line = bytes.TrimPrefix(line, utf8BOM)
	}
	if skipSpace(line, 0) == len(line) {
		return nil
	}

	switch err := ld.dec.Decode(line, &ld.record); {
	case err == nil:
		ld.part.Add(&ld.record)
		stats.Records++
	case errors.Is(err, ErrMissingKey):
		stats.Skipped++
	default:
		return fmt.Errorf("line %d: %w", stats.Lines, err)
	}
	return nil
}

func lineTooLong(maxLine int) error {
	return fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, maxLine)
}

func trimLineEnding(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))

	return bytes.TrimSuffix(line, []byte("\r"))
}
