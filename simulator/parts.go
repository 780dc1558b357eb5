package simulator

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// compressionLevel is gzip's default. With klauspost's encoder it costs little
// more time than the fastest level and keeps a large tenant's files a fifth
// smaller in memory.
const compressionLevel = gzip.DefaultCompression

// buildParts encodes and compresses every export file, spreading the parts over
// all CPUs. The bytes are kept, so downloads cost no CPU in the simulator.
func (g *generation) buildParts() {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(g.parts)) {
		wg.Go(func() {
			pw := newPartWriter(g)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(g.parts) {
					return
				}
				g.parts[i].gz = pw.compress(&g.parts[i])
			}
		})
	}
	wg.Wait()

	g.partIndex = make(map[string]int, len(g.parts))
	for i, p := range g.parts {
		g.partIndex[p.suffix] = i
	}
}

// partWriter compresses parts one after the other, reusing its buffers.
type partWriter struct {
	g    *generation
	keys *keySet
	line []byte
	out  bytes.Buffer
	zw   *gzip.Writer
}

func newPartWriter(g *generation) *partWriter {
	pw := &partWriter{g: g, keys: fileKeys[g.opts.FileCasing]}
	pw.zw, _ = gzip.NewWriterLevel(&pw.out, compressionLevel) // the level is valid
	return pw
}

// compress returns part p as gzip-compressed NDJSON, one record a line. The
// empty blobs have no bytes at all, not even a gzip header.
func (pw *partWriter) compress(p *part) []byte {
	if p.count == 0 {
		return nil
	}
	pw.out.Reset()
	pw.zw.Reset(&pw.out)

	const flushAt = 64 << 10
	buf := pw.line[:0]
	for n := range p.count {
		r := pw.g.locate(p, n)
		buf = pw.g.appendRecord(buf, r, pw.g.facts(r), pw.keys)
		buf = append(buf, '\n')
		if len(buf) >= flushAt {
			_, _ = pw.zw.Write(buf)
			buf = buf[:0]
		}
	}
	// Writing into a bytes.Buffer cannot fail, so neither can the gzip writer.
	_, _ = pw.zw.Write(buf)
	_ = pw.zw.Close()
	pw.line = buf

	return bytes.Clone(pw.out.Bytes())
}
