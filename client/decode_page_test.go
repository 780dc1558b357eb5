package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDecodePageDocExample(t *testing.T) {
	var part collectingPart
	stats, err := decodePage(openFixture(t, "baseline_assessment_doc_example.json"), &part, 0)
	if err != nil {
		t.Fatal(err)
	}

	want := PageStats{
		Records: 1,
		Context: " https://api.securitycenter.microsoft.com /api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)",
	}
	if stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if !reflect.DeepEqual(part.records, []record{docExampleRecord}) {
		t.Errorf("records = %+v, want %+v", part.records, docExampleRecord)
	}
}

func TestDecodePageMatchesExportFile(t *testing.T) {
	// K02: the JSON API and the files give the same records for the same tenant.
	var part collectingPart
	stats, err := decodePage(openFixture(t, "baseline_page_k02.json"), &part, 0)
	if err != nil {
		t.Fatal(err)
	}

	if stats.Records != 5 || stats.Skipped != 1 || stats.NextLink != "" {
		t.Errorf("stats = %+v, want 5 records, 1 skipped, no nextLink", stats)
	}
	if !reflect.DeepEqual(part.records, k02Records) {
		t.Errorf("records:\n got %+v\nwant %+v", part.records, k02Records)
	}
}

func TestDecodePageEnvelope(t *testing.T) {
	const (
		element = `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","isApplicable":true}`
		context = `https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)`
		next    = `https://api.securitycenter.microsoft.com/api/machines/BaselineComplianceAssessmentByMachine?pagesize=2&$skiptoken=eyJFeHBvcnREZWZpbml0aW9uIjp7fX0=`
	)

	tests := []struct {
		name string
		page string
		want PageStats
	}{
		{
			name: "nextLink absent",
			page: `{"@odata.context":"` + context + `","value":[` + element + `]}`,
			want: PageStats{Records: 1, Context: context},
		},
		{
			name: "nextLink null",
			page: `{"@odata.context":"` + context + `","value":[` + element + `],"@odata.nextLink":null}`,
			want: PageStats{Records: 1, Context: context},
		},
		{
			name: "nextLink after value",
			page: `{"@odata.context":"` + context + `","value":[` + element + `,` + element + `],"@odata.nextLink":"` + next + `"}`,
			want: PageStats{Records: 2, Context: context, NextLink: next},
		},
		{
			name: "nextLink before value",
			page: `{"@odata.nextLink":"` + next + `","value":[` + element + `],"@odata.context":"` + context + `"}`,
			want: PageStats{Records: 1, Context: context, NextLink: next},
		},
		{
			name: "escaped nextLink",
			page: `{"value":[],"@odata.nextLink":"https:\/\/h\/api?a=1\u0026b=2"}`,
			want: PageStats{NextLink: "https://h/api?a=1&b=2"},
		},
		{
			name: "keys in another case",
			page: `{"@OData.NextLink":"` + next + `","Value":[` + element + `]}`,
			want: PageStats{Records: 1, NextLink: next},
		},
		{
			name: "unknown members",
			page: `{"@odata.count":2,"value":[` + element + `],"extra":{"value":[1,{"a":"]}"}]},"@odata.nextLink":"` + next + `"}`,
			want: PageStats{Records: 1, NextLink: next},
		},
		{
			name: "empty value",
			page: `{"@odata.context":"` + context + `","value":[]}`,
			want: PageStats{Context: context},
		},
		{
			name: "null value",
			page: `{"value":null,"@odata.nextLink":null}`,
			want: PageStats{},
		},
		{
			name: "empty object",
			page: `{}`,
			want: PageStats{},
		},
		{
			name: "BOM and whitespace",
			page: "\xEF\xBB\xBF \r\n{ \"value\" : [ " + element + " ,\n\t" + element + " ] ,\"@odata.nextLink\" : \"" + next + "\" }\r\n",
			want: PageStats{Records: 2, NextLink: next},
		},
		{
			name: "elements without keys",
			page: `{"value":[{"deviceId":"d1"},` + element + `,{}]}`,
			want: PageStats{Records: 1, Skipped: 2},
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var part countingPart
			stats, err := decodePage(strings.NewReader(tt.page), &part, 0)
			if err != nil {
				t.Fatal(err)
			}

			if stats != tt.want {
				t.Errorf("stats = %+v, want %+v", stats, tt.want)
			}
			if part.records != tt.want.Records {
				t.Errorf("part received %d records, want %d", part.records, tt.want.Records)
			}
		})
	}
}

func TestDecodePageErrors(t *testing.T) {
	const element = `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1"}`

	tests := []struct {
		name      string
		page      string
		maxRecord int
		wantErr   string
		wantIs    error
		wantStats PageStats
	}{
		{
			name:    "empty body",
			page:    ``,
			wantErr: "decoding page: unexpected end of input at offset 0",
		},
		{
			name:    "not JSON",
			page:    `<html>Service Unavailable</html>`,
			wantErr: "decoding page: invalid character '<' looking for the start of the page object at offset 0",
		},
		{
			name:      "malformed second element",
			page:      `{"value":[` + element + `,{"deviceId":"d2","isCompliant":yes}]}`,
			wantErr:   `decoding page: record 2: "isCompliant": expected true, false or null, found 'y' at offset 102`,
			wantStats: PageStats{Records: 1},
		},
		{
			name:      "wrong type in second element",
			page:      `{"value":[` + element + `,{"deviceId":["d2"]}]}`,
			wantErr:   `decoding page: record 2: "deviceId": expected a string, number or null, found '[' at offset 83`,
			wantStats: PageStats{Records: 1},
		},
		{
			name:      "truncated page",
			page:      `{"value":[` + element + `,{"deviceId":"d2","profileId":"p`,
			wantErr:   "decoding page: record 2: unexpected end of input at offset 102",
			wantStats: PageStats{Records: 1},
		},
		{
			name:      "missing closing brace",
			page:      `{"value":[` + element + `]`,
			wantErr:   "decoding page: unexpected end of input at offset 71",
			wantStats: PageStats{Records: 1},
		},
		{
			name:      "data after the page",
			page:      `{"value":[` + element + `]} {"value":[]}`,
			wantErr:   "decoding page: invalid character '{' after the page object at offset 73",
			wantStats: PageStats{Records: 1},
		},
		{
			name:    "value is not an array",
			page:    `{"value":{"deviceId":"d1"}}`,
			wantErr: `decoding page: invalid character '{' looking for the start of the "value" array at offset 9`,
		},
		{
			name:    "nextLink is a number",
			page:    `{"value":[],"@odata.nextLink":2}`,
			wantErr: `decoding page: "@odata.nextLink": expected a string or null, found '2' at offset 30`,
		},
		{
			name:      "element larger than the limit",
			page:      `{"value":[` + element + `,{"deviceId":"d2","source":["` + strings.Repeat("x", 5000) + `"]}]}`,
			maxRecord: 4096,
			wantErr:   "decoding page: record 2: record too long: more than 4096 bytes at offset 71",
			wantIs:    ErrRecordTooLong,
			wantStats: PageStats{Records: 1},
		},
		{
			name:      "unknown member larger than the limit",
			page:      `{"extra":"` + strings.Repeat("x", 5000) + `","value":[]}`,
			maxRecord: 4096,
			wantErr:   "decoding page: record too long: more than 4096 bytes at offset 9",
			wantIs:    ErrRecordTooLong,
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var part countingPart
			stats, err := decodePage(strings.NewReader(tt.page), &part, tt.maxRecord)

			if err == nil || err.Error() != tt.wantErr {
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

func TestDecodePageReadError(t *testing.T) {
	page := generatePage(100, "")
	failing := io.MultiReader(bytes.NewReader(page[:len(page)/2]), iotest.ErrReader(io.ErrUnexpectedEOF))

	var part countingPart
	_, err := decodePage(failing, &part, 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("error = %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
}

func TestDecodePageReadsInAnyChunks(t *testing.T) {
	// Records cross the window's edges at every offset when the window is small and
	// reads are short; the result must not depend on either.
	page := generatePage(3000, "https://h/next")

	var wholePart collectingPart
	wantStats, err := decodePage(bytes.NewReader(page), &wholePart, 0)
	if err != nil {
		t.Fatal(err)
	}
	if wantStats.Records != 3000 || wantStats.NextLink != "https://h/next" {
		t.Fatalf("stats = %+v, want 3000 records and the nextLink", wantStats)
	}

	readers := map[string]func(io.Reader) io.Reader{
		"one byte":  iotest.OneByteReader,
		"half":      iotest.HalfReader,
		"data+EOF":  iotest.DataErrReader,
		"odd sizes": func(r io.Reader) io.Reader { return &unevenReader{r: r} },
	}

	for name, wrap := range readers {
		for _, window := range []int{1, 7, 1000, pageBufferSize} {
			t.Run(fmt.Sprintf("%s, window %d", name, window), func(t *testing.T) {
				var part collectingPart
				stats, err := newPageReader(wrap(bytes.NewReader(page)), 0, window).decode(&part)
				if err != nil {
					t.Fatal(err)
				}

				if stats != wantStats {
					t.Errorf("stats = %+v, want %+v", stats, wantStats)
				}
				if !reflect.DeepEqual(part.records, wholePart.records) {
					t.Errorf("records differ from a whole read")
				}
			})
		}
	}
}

func TestDecodePageMemoryDoesNotGrowWithInput(t *testing.T) {
	run := func(records int) float64 {
		page := generatePage(records, "https://h/next")
		return testing.AllocsPerRun(2, func() {
			var part countingPart
			if _, err := decodePage(bytes.NewReader(page), &part, 0); err != nil {
				t.Fatal(err)
			}
		})
	}

	small, large := run(100), run(20_000)
	if large > small {
		t.Errorf("allocations: %v for 100 records, %v for 20,000; want no growth", small, large)
	}
}

func FuzzDecodePage(f *testing.F) {
	for _, name := range []string{"baseline_assessment_doc_example.json", "baseline_page_k02.json"} {
		page, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(page)
	}
	f.Add(generatePage(3, "https://h/next"))
	f.Add([]byte(`{"value":[],"@odata.nextLink":null}`))
	f.Add([]byte("\xEF\xBB\xBF{\"@OData.NextLink\":\"https:\\/\\/h\",\"x\":[{\"value\":[]}],\"value\":null}"))
	f.Add([]byte(`{"value":[{"deviceId":"d","profileId":"p","configurationId":"c","x":[[{}]]},{}]}`))

	f.Fuzz(func(t *testing.T, page []byte) {
		records, stats, err := decodePageBounded(t, bytes.NewReader(page), pageBufferSize)

		// A tiny window read one byte at a time must give the same result. Only the
		// error may differ for a value over the limit: the tiny window stops at the
		// limit, the whole read may find a syntax error past it first.
		for _, window := range []int{1, 13} {
			got, gotStats, gotErr := decodePageBounded(t, iotest.OneByteReader(bytes.NewReader(page)), window)

			sameErr := fmt.Sprint(err) == fmt.Sprint(gotErr) ||
				(err != nil && gotErr != nil && (errors.Is(err, ErrRecordTooLong) || errors.Is(gotErr, ErrRecordTooLong)))
			if !sameErr || gotStats != stats || !reflect.DeepEqual(got, records) {
				t.Fatalf("whole read: %+v, %v\nwindow %d: %+v, %v", stats, err, window, gotStats, gotErr)
			}
		}
	})
}

// fuzzMaxRecord is the record limit of FuzzDecodePage, small enough for the fuzzer
// to reach.
const fuzzMaxRecord = 4096

// decodePageBounded decodes a page through a window of the given initial size and
// fails t if the window or the decoder's scratch space grew past what the record
// limit allows, whatever the page holds.
func decodePageBounded(t *testing.T, r io.Reader, window int) ([]record, PageStats, error) {
	t.Helper()

	var part collectingPart
	p := newPageReader(r, fuzzMaxRecord, window)
	stats, err := p.decode(&part)

	// The window doubles only while one token does not fit and is under the limit.
	if limit := max(window, 2*fuzzMaxRecord); cap(p.buf) > limit {
		t.Fatalf("window grew to %d bytes, limit %d", cap(p.buf), limit)
	}
	// The scratch space holds the unescaped strings of one token, which fits in the
	// window. Unescaping at most triples it (an invalid byte becomes U+FFFD), and
	// append may double the capacity once more.
	if limit := 6 * max(window, 2*fuzzMaxRecord); cap(p.dec.scratch) > limit {
		t.Fatalf("scratch space grew to %d bytes, limit %d", cap(p.dec.scratch), limit)
	}

	return part.records, stats, err
}

func BenchmarkDecodePage(b *testing.B) {
	const records = 10_000
	page := generatePage(records, "https://h/next")

	decoders := []struct {
		name   string
		decode func(io.Reader, PartSink) (PageStats, error)
	}{
		{"streaming", func(r io.Reader, part PartSink) (PageStats, error) { return decodePage(r, part, 0) }},
		{"json.Decoder", decodePageWithTokens},
	}

	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(int64(len(page)))
			b.ReportAllocs()

			for b.Loop() {
				var part countingPart
				if _, err := d.decode(bytes.NewReader(page), &part); err != nil {
					b.Fatal(err)
				}
			}
			reportRecordsPerSecond(b, b.N*records)
		})
	}
}

// decodePageWithTokens is the alternative to decodePage measured against it:
// json.Decoder's Token for the envelope and a RawMessage per element, handed to the
// same fast decoder.
func decodePageWithTokens(r io.Reader, part PartSink) (PageStats, error) {
	var (
		stats  PageStats
		dec    AssessmentDecoder
		record Assessment
		raw    json.RawMessage
	)

	tokens := json.NewDecoder(r)
	if _, err := tokens.Token(); err != nil { // {
		return stats, err
	}

	for tokens.More() {
		key, err := tokens.Token()
		if err != nil {
			return stats, err
		}

		switch key {
		case "value":
			if _, err := tokens.Token(); err != nil { // [
				return stats, err
			}
			for tokens.More() {
				if err := tokens.Decode(&raw); err != nil {
					return stats, err
				}
				if err := dec.Decode(raw, &record); err != nil {
					return stats, err
				}
				part.Add(&record)
				stats.Records++
			}
			if _, err := tokens.Token(); err != nil { // ]
				return stats, err
			}
		case "@odata.nextLink":
			if err := tokens.Decode(&stats.NextLink); err != nil {
				return stats, err
			}
		default:
			if err := tokens.Decode(&raw); err != nil {
				return stats, err
			}
		}
	}

	return stats, nil
}

// generatePage returns a JSON API page of realistic records.
func generatePage(records int, nextLink string) []byte {
	page := []byte(`{"@odata.context":"https://api.securitycenter.microsoft.com/api/$metadata#Collection(microsoft.windowsDefenderATP.api.AssetBaselineAssessment)","value":[`)
	for i := range records {
		if i > 0 {
			page = append(page, ',')
		}
		page = appendSampleRecord(page, i, false)
	}
	page = append(page, ']')

	if nextLink != "" {
		page = append(page, `,"@odata.nextLink":"`+nextLink+`"`...)
	}

	return append(page, '}')
}

// unevenReader returns reads of 1, 2, 3, ... 97 bytes in turn.
type unevenReader struct {
	r    io.Reader
	next int
}

func (u *unevenReader) Read(p []byte) (int, error) {
	u.next = u.next%97 + 1
	if len(p) > u.next {
		p = p[:u.next]
	}

	return u.r.Read(p)
}
