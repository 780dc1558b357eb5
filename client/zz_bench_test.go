package client

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func zzPart(b *testing.B) []byte {
	f, err := os.ReadFile("/tmp/mdeparts/part-00001.json.gz")
	if err != nil {
		b.Skip()
	}
	zr, _ := gzip.NewReader(bytes.NewReader(f))
	data, _ := io.ReadAll(zr)
	return data
}

func BenchmarkZZDecodeLines(b *testing.B) {
	data := zzPart(b)
	b.SetBytes(int64(len(data)))
	n := bytes.Count(data, []byte{'\n'})
	for b.Loop() {
		var sink countingPart
		if _, err := decodeLines(bytes.NewReader(data), &sink, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSecond(b, b.N*n)
}

func BenchmarkZZDecodeOnly(b *testing.B) {
	data := zzPart(b)
	lines := bytes.Split(bytes.TrimSuffix(data, []byte{'\n'}), []byte{'\n'})
	b.SetBytes(int64(len(data)))
	var dec AssessmentDecoder
	var a Assessment
	for b.Loop() {
		for _, l := range lines {
			if err := dec.Decode(l, &a); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportRecordsPerSecond(b, b.N*len(lines))
}

func BenchmarkZZQuotesIndexByte(b *testing.B) {
	data := zzPart(b)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		d := data
		for {
			q := bytes.IndexByte(d, '"')
			if q < 0 {
				break
			}
			n++
			d = d[q+1:]
		}
	}
	_ = n
}

func BenchmarkZZQuotesSWAR(b *testing.B) {
	data := zzPart(b)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		j := 0
		for j < len(data) {
			j = skipPlain(data, j)
			n++
			j++
		}
	}
	_ = n
}

func BenchmarkZZLinesIndexByte(b *testing.B) {
	data := zzPart(b)
	b.SetBytes(int64(len(data)))
	n := 0
	for b.Loop() {
		d := data
		for {
			q := bytes.IndexByte(d, '\n')
			if q < 0 {
				break
			}
			n++
			d = d[q+1:]
		}
	}
	_ = n
}

func BenchmarkZZGunzipDecodeLines(b *testing.B) {
	f, err := os.ReadFile("/tmp/mdeparts/part-00001.json.gz")
	if err != nil {
		b.Skip()
	}
	data := zzPart(b)
	n := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		zr, _ := gzip.NewReader(bytes.NewReader(f))
		var sink countingPart
		if _, err := decodeLines(zr, &sink, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSecond(b, b.N*n)
}
