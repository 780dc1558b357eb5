package simulator

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// part is one export file: a run of one group's records.
type part struct {
	group  int
	first  int     // offset of its first record in the group
	count  int     // 0 for the empty blobs
	perm   []int32 // line order when shuffled
	number int
	suffix string // blob path below the snapshot's time path
	gz     []byte
}

// layoutParts cuts every group's records into parts of at most PartRecords,
// after the empty blobs, and names their files.
func (g *generation) layoutParts() {
	for i := range g.opts.EmptyParts {
		if len(g.groups) > 0 {
			g.parts = append(g.parts, part{group: i % len(g.groups)})
		}
	}

	for gi := range g.groups {
		gr := &g.groups[gi]
		gr.starts = make([]int, 0, len(gr.devices)+1)
		total := 0
		for _, d := range gr.devices {
			gr.starts = append(gr.starts, total)
			total += len(g.platformProfiles[g.devices[d].platform]) * g.opts.ConfigurationsPerProfile
		}
		gr.starts = append(gr.starts, total)
		g.records += total

		for first := 0; first < total; first += g.opts.PartRecords {
			g.parts = append(g.parts, part{group: gi, first: first, count: min(g.opts.PartRecords, total-first)})
		}
	}

	for i := range g.parts {
		p := &g.parts[i]
		p.number = i
		p.suffix = "BaselineAssessmentExport/json/OrgId=" + g.orgID + "/_RbacGroupId=" + g.groups[p.group].id +
			"/part-" + pad5(i) + "-" + g.jobID + ".c000.json.gz"
		if g.opts.Shuffle && p.count > 1 {
			p.perm = permutation(p.count, rand.New(rand.NewPCG(g.key, streamShuffle<<32|uint64(i))))
		}
	}
}

// permutation is a random order of n lines.
func permutation(n int, r *rand.Rand) []int32 {
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	r.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	return perm
}

// locate returns the record on line n of part p.
func (g *generation) locate(p *part, n int) ref {
	if p.perm != nil {
		n = int(p.perm[n])
	}
	off := p.first + n
	gr := &g.groups[p.group]
	k := sort.Search(len(gr.devices), func(i int) bool { return gr.starts[i+1] > off })
	d := gr.devices[k]
	rem := off - gr.starts[k]

	perProfile := g.opts.ConfigurationsPerProfile
	prof := g.platformProfiles[g.devices[d].platform][rem/perProfile]
	return ref{device: d, profile: prof, config: g.profileConfigs[prof][rem%perProfile]}
}

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
