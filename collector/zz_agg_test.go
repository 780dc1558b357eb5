package collector

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/mde-exporter/mde_exporter/client"
)

func zzLines(b *testing.B) [][]byte {
	f, err := os.ReadFile("/tmp/mdeparts/part-00001.json.gz")
	if err != nil {
		b.Skip()
	}
	zr, _ := gzip.NewReader(bytes.NewReader(f))
	data, _ := io.ReadAll(zr)
	return bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
}

type nopPart struct{ n int }

func (p *nopPart) Add(a *client.Assessment) { p.n++ }

func BenchmarkZZDecodeAggregate(b *testing.B) {
	lines := zzLines(b)
	agg := NewAggregator()
	var dec client.AssessmentDecoder
	var a client.Assessment
	start := zzCPU()
	for b.Loop() {
		p := agg.BeginPart()
		for _, l := range lines {
			if err := dec.Decode(l, &a); err != nil {
				b.Fatal(err)
			}
			p.Add(&a)
		}
		agg.CommitPart(p)
	}
	zzReportCPU(b, start, len(lines)*b.N)
}

func BenchmarkZZDecodeNop(b *testing.B) {
	lines := zzLines(b)
	var dec client.AssessmentDecoder
	var a client.Assessment
	start := zzCPU()
	for b.Loop() {
		var p nopPart
		for _, l := range lines {
			if err := dec.Decode(l, &a); err != nil {
				b.Fatal(err)
			}
			p.Add(&a)
		}
	}
	zzReportCPU(b, start, len(lines)*b.N)
}

// compactRecords decodes lines into records whose bytes lie one after the other.
func compactRecords(b *testing.B) []client.Assessment {
	lines := zzLines(b)
	arena := make([]byte, 0, 300*len(lines))
	recs := make([]client.Assessment, len(lines))
	var dec client.AssessmentDecoder
	keep := func(v []byte) []byte {
		start := len(arena)
		arena = append(arena, v...)
		return arena[start:len(arena):len(arena)]
	}
	for i, l := range lines {
		var a client.Assessment
		if err := dec.Decode(l, &a); err != nil {
			b.Fatal(err)
		}
		recs[i] = client.Assessment{DeviceID: keep(a.DeviceID), ProfileID: keep(a.ProfileID), ConfigurationID: keep(a.ConfigurationID),
			RbacGroupName: keep(a.RbacGroupName), OSPlatform: keep(a.OSPlatform), IsApplicable: a.IsApplicable, IsCompliant: a.IsCompliant}
	}
	return recs
}

func BenchmarkZZAggregateAB(b *testing.B) {
	recs := compactRecords(b)
	agg := NewAggregator()
	var oldT, newT time.Duration
	for b.Loop() {
		start := time.Now()
		t := newOldTally()
		for i := range recs {
			t.Add(&recs[i])
		}
		oldT += time.Since(start)

		start = time.Now()
		p := agg.BeginPart()
		for i := range recs {
			p.Add(&recs[i])
		}
		agg.CommitPart(p)
		newT += time.Since(start)
	}
	n := float64(len(recs) * b.N)
	b.ReportMetric(float64(oldT.Nanoseconds())/n, "old-ns/rec")
	b.ReportMetric(float64(newT.Nanoseconds())/n, "new-ns/rec")
}
