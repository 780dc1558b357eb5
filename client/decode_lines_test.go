package client

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// k02Records are the records of testdata/baseline_page_k02.json and
// testdata/baseline_export_part_k02.json, in order. The sixth record of the files
// has no profileId and is skipped.
var k02Records = []record{
	{DeviceID: "4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e", ProfileID: "9e1b90be-e83e-485b-a5ec-4a429412e734", ConfigurationID: "1.1.1", RbacGroupName: "Tier0 Servers", OSPlatform: "WindowsServer2019", IsApplicable: true, IsCompliant: true},
	{DeviceID: "4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e", ProfileID: "9e1b90be-e83e-485b-a5ec-4a429412e734", ConfigurationID: "1.1.2", RbacGroupName: "Tier0 Servers", OSPlatform: "WindowsServer2019", IsApplicable: true, IsCompliant: false},
	{DeviceID: "4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e", ProfileID: "9e1b90be-e83e-485b-a5ec-4a429412e734", ConfigurationID: "18.9.4.1", RbacGroupName: "Tier0 Servers", OSPlatform: "WindowsServer2019", IsApplicable: false, IsCompliant: false},
	{DeviceID: "4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e", ProfileID: "9e1b90be-e83e-485b-a5ec-4a429412e734", ConfigurationID: "2.3.1.1", RbacGroupName: "Tier0 Servers", OSPlatform: "WindowsServer2019", IsApplicable: false, IsCompliant: false},
	{DeviceID: "a07d31c2e59b4f68d0c1e2f3a4b5c6d7e8f90a1b", ProfileID: "5d3e6a2c-7b1f-4e8d-9c0a-1f2e3d4c5b6a", ConfigurationID: "9.3.9", RbacGroupName: "", OSPlatform: "Windows11", IsApplicable: true, IsCompliant: true},
}

func TestDecodeLinesExportPart(t *testing.T) {
	var part collectingPart
	stats, err := decodeLines(openFixture(t, "baseline_export_part_k02.json"), &part, 0)
	if err != nil {
		t.Fatal(err)
	}

	if want := (LineStats{Records: 5, Skipped: 1, Lines: 6}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if !reflect.DeepEqual(part.records, k02Records) {
		t.Errorf("records:\n got %+v\nwant %+v", part.records, k02Records)
	}
}

func TestDecodeLinesTolerance(t *testing.T) {
	const (
		line1 = `{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.1","IsApplicable":true,"IsCompliant":true}`
		line2 = `{"DeviceId":"d2","ProfileId":"p1","ConfigurationId":"1.1.1","IsApplicable":true}`
	)
	want := []record{
		{DeviceID: "d1", ProfileID: "p1", ConfigurationID: "1.1.1", IsApplicable: true, IsCompliant: true},
		{DeviceID: "d2", ProfileID: "p1", ConfigurationID: "1.1.1", IsApplicable: true},
	}

	tests := []struct {
		name      string
		input     string
		wantLines int64
	}{
		{"LF", line1 + "\n" + line2 + "\n", 2},
		{"no final newline", line1 + "\n" + line2, 2},
		{"CRLF", line1 + "\r\n" + line2 + "\r\n", 2},
		{"BOM", "\xEF\xBB\xBF" + line1 + "\n" + line2 + "\n", 2},
		{"BOM on its own line", "\xEF\xBB\xBF\n" + line1 + "\n" + line2 + "\n", 3},
		{"blank lines", "\n" + line1 + "\n\n \t\r\n" + line2 + "\n\n", 6},
		{"surrounding whitespace", "  " + line1 + "\t\n" + line2 + " \n", 2},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var part collectingPart
			stats, err := decodeLines(strings.NewReader(tt.input), &part, 0)
			if err != nil {
				t.Fatal(err)
			}

			if wantStats := (LineStats{Records: 2, Lines: tt.wantLines}); stats != wantStats {
				t.Errorf("stats = %+v, want %+v", stats, wantStats)
			}
			if !reflect.DeepEqual(part.records, want) {
				t.Errorf("records:\n got %+v\nwant %+v", part.records, want)
			}
		})
	}
}

func TestDecodeLinesSkipsRecordsWithoutKeys(t *testing.T) {
	input := `{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.1"}
{"DeviceId":"d1","ConfigurationId":"1.1.2"}
{"DeviceId":null,"ProfileId":"p1","ConfigurationId":"1.1.3"}
{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.4"}
`
	var part collectingPart
	stats, err := decodeLines(strings.NewReader(input), &part, 0)
	if err != nil {
		t.Fatal(err)
	}

	if want := (LineStats{Records: 2, Skipped: 2, Lines: 4}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if len(part.records) != 2 || part.records[1].ConfigurationID != "1.1.4" {
		t.Errorf("records = %+v, want 1.1.1 and 1.1.4", part.records)
	}
}

func TestDecodeLinesErrors(t *testing.T) {
	good := `{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.1"}`
	long := `{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.1","Source":["` + strings.Repeat("x", 200_000) + `"]}`

	tests := []struct {
		name      string
		input     string
		maxLine   int
		wantErr   string
		wantIs    error
		wantStats LineStats
	}{
		{
			name:      "malformed line",
			input:     good + "\n" + good + "\n" + `{"DeviceId":"d1","ProfileId":"p1",` + "\n",
			wantErr:   "line 3: unexpected end of input at offset 34",
			wantStats: LineStats{Records: 2, Lines: 3},
		},
		{
			name:      "garbage line",
			input:     good + "\n\n" + "<Error><Code>AuthenticationFailed</Code></Error>\n",
			wantErr:   "line 3: invalid character '<' looking for the start of a record object at offset 0",
			wantStats: LineStats{Records: 1, Lines: 3},
		},
		{
			name:      "line longer than the limit",
			input:     good + "\n" + good + "\n",
			maxLine:   len(good) - 1,
			wantErr:   "line 1: line too long: more than 59 bytes",
			wantIs:    ErrLineTooLong,
			wantStats: LineStats{},
		},
		{
			name:      "line at the limit with CRLF",
			input:     good + "\r\n" + good + "\r\n",
			maxLine:   len(good),
			wantStats: LineStats{Records: 2, Lines: 2},
		},
		{
			name:      "line longer than the read buffer but within the limit",
			input:     good + "\n" + long + "\n" + good,
			maxLine:   len(long),
			wantStats: LineStats{Records: 3, Lines: 3},
		},
		{
			name:      "line longer than the read buffer and the limit",
			input:     good + "\n" + long + "\n" + good,
			maxLine:   100_000,
			wantErr:   "line 2: line too long: more than 100000 bytes",
			wantIs:    ErrLineTooLong,
			wantStats: LineStats{Records: 1, Lines: 1},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var part countingPart
			stats, err := decodeLines(strings.NewReader(tt.input), &part, tt.maxLine)

			if tt.wantErr == "" && err != nil {
				t.Errorf("error = %v, want none", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error = %v, want it to wrap %v", err, tt.wantIs)
			}
			if stats != tt.wantStats {
				t.Errorf("stats = %+v, want %+v", stats, tt.wantStats)
			}
		})
	}
}

func TestDecodeLinesReadError(t *testing.T) {
	good := `{"DeviceId":"d1","ProfileId":"p1","ConfigurationId":"1.1.1"}` + "\n"
	failing := io.MultiReader(strings.NewReader(good+good), iotest.ErrReader(io.ErrUnexpectedEOF))

	var part countingPart
	stats, err := decodeLines(failing, &part, 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) || err.Error() != "line 3: unexpected EOF" {
		t.Errorf("error = %v, want %q wrapping io.ErrUnexpectedEOF", err, "line 3: unexpected EOF")
	}
	if stats.Records != 2 {
		t.Errorf("Records = %d, want 2", stats.Records)
	}
}

func TestDecodeLinesMemoryDoesNotGrowWithInput(t *testing.T) {
	// K02: a large part must not need more memory than a small one; 100 times
	// the lines stand in here for a part of 2 million lines (about 300 MB).
	// Lines are generated while they are read, so the input is never in memory.
	run := func(lines int) (allocs float64, bytes uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)

		allocs = testing.AllocsPerRun(1, func() {
			var part countingPart
			stats, err := decodeLines(newGeneratedLines(lines), &part, 0)
			if err != nil || stats.Records != int64(lines) {
				t.Fatalf("decodeLines: %+v, %v; want %d records", stats, err, lines)
			}
		})

		runtime.ReadMemStats(&after)
		// AllocsPerRun runs the function twice.
		return allocs, (after.TotalAlloc - before.TotalAlloc) / 2
	}

	smallAllocs, smallBytes := run(2_000)
	largeAllocs, largeBytes := run(200_000)

	// The line blocks come from a sync.Pool, which may drop any of them (the
	// race detector makes it drop some on purpose): each costs an allocation.
	if largeAllocs > smallAllocs+lineBlocksPerPart {
		t.Errorf("allocations: %v for 2,000 lines, %v for 200,000 lines; want no growth", smallAllocs, largeAllocs)
	}
	t.Logf("2,000 lines: %v allocations, %d bytes; 200,000 lines: %v allocations, %d bytes", smallAllocs, smallBytes, largeAllocs, largeBytes)

	const limit = 256 << 10
	if largeBytes > limit {
		t.Errorf("allocated %d bytes for 200,000 lines (%d for 2,000), want at most %d", largeBytes, smallBytes, limit)
	}
}

// generatedLines is an export part of realistic PascalCase lines, made while it is
// read and without allocating per line.
type generatedLines struct {
	remaining int
	line      []byte
	unread    []byte
}

func newGeneratedLines(lines int) *generatedLines {
	return &generatedLines{remaining: lines, line: make([]byte, 0, 1024)}
}

func (g *generatedLines) Read(p []byte) (int, error) {
	if len(g.unread) == 0 {
		if g.remaining == 0 {
			return 0, io.EOF
		}
		g.remaining--
		g.line = append(appendSampleRecord(g.line[:0], g.remaining, true), '\n')
		g.unread = g.line
	}

	n := copy(p, g.unread)
	g.unread = g.unread[n:]

	return n, nil
}

func BenchmarkDecodeLines(b *testing.B) {
	const lines = 10_000

	var part []byte
	for i := range lines {
		part = append(appendSampleRecord(part, i, true), '\n')
	}

	b.SetBytes(int64(len(part)))
	b.ReportAllocs()

	for b.Loop() {
		var sink countingPart
		if _, err := decodeLines(bytes.NewReader(part), &sink, 0); err != nil {
			b.Fatal(err)
		}
	}
	reportRecordsPerSecond(b, b.N*lines)
}
