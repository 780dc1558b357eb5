package client

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// record is an Assessment copied out of the decoder's buffers, for comparisons.
type record struct {
	DeviceID, ProfileID, ConfigurationID, RbacGroupName, OSPlatform string
	IsApplicable, IsCompliant                                       bool
}

func recordOf(a *Assessment) record {
	return record{
		DeviceID:        string(a.DeviceID),
		ProfileID:       string(a.ProfileID),
		ConfigurationID: string(a.ConfigurationID),
		RbacGroupName:   string(a.RbacGroupName),
		OSPlatform:      string(a.OSPlatform),
		IsApplicable:    a.IsApplicable,
		IsCompliant:     a.IsCompliant,
	}
}

// collectingPart is a PartSink that keeps a copy of every record.
type collectingPart struct{ records []record }

func (c *collectingPart) Add(a *Assessment) { c.records = append(c.records, recordOf(a)) }

// countingPart is a PartSink that only counts, without allocating.
type countingPart struct{ records, applicable int64 }

func (c *countingPart) Add(a *Assessment) {
	c.records++
	if a.IsApplicable {
		c.applicable++
	}
}

// docExampleRecord is the record of the documentation's response example
// (testdata/baseline_assessment_doc_example.json), as the fast decoder keeps it.
var docExampleRecord = record{
	DeviceID:        "0000682575d5d473242222425d152411251",
	ProfileID:       "9e1b90be-e83e-485b-a5ec-4a429412e734",
	ConfigurationID: "1.1.1",
	RbacGroupName:   "UnassignedGroup",
	OSPlatform:      "WindowsServer2019",
	IsApplicable:    true,
	IsCompliant:     false,
}

// docExampleElement returns the single element of the documentation example,
// cut out of the page.
func docExampleElement(t testing.TB) []byte {
	t.Helper()

	page, err := os.ReadFile("testdata/baseline_assessment_doc_example.json")
	if err != nil {
		t.Fatal(err)
	}

	start := strings.Index(string(page), `"value": [`) + len(`"value": [`)
	end := strings.LastIndex(string(page), "]")

	return page[start:end]
}

func TestDecodeAssessmentDocExample(t *testing.T) {
	var (
		dec AssessmentDecoder
		got Assessment
	)
	if err := dec.Decode(docExampleElement(t), &got); err != nil {
		t.Fatalf("Decode: %v", err)
	}

	if r := recordOf(&got); r != docExampleRecord {
		t.Errorf("Decode:\n got %+v\nwant %+v", r, docExampleRecord)
	}
}

func TestDecodeAssessmentBothCasingsAgree(t *testing.T) {
	// K02: the files are PascalCase, the JSON API camelCase; the acronym of
	// OSPlatform is spelt three ways.
	camel := `{"deviceId":"4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e","profileId":"9e1b90be-e83e-485b-a5ec-4a429412e734","configurationId":"1.1.2","rbacGroupName":"Tier0 Servers","osPlatform":"WindowsServer2019","isApplicable":true,"isCompliant":true}`
	variants := map[string]string{
		"camelCase":             camel,
		"PascalCase OSPlatform": `{"DeviceId":"4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e","ProfileId":"9e1b90be-e83e-485b-a5ec-4a429412e734","ConfigurationId":"1.1.2","RbacGroupName":"Tier0 Servers","OSPlatform":"WindowsServer2019","IsApplicable":true,"IsCompliant":true}`,
		"PascalCase OsPlatform": `{"DeviceId":"4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e","ProfileId":"9e1b90be-e83e-485b-a5ec-4a429412e734","ConfigurationId":"1.1.2","RbacGroupName":"Tier0 Servers","OsPlatform":"WindowsServer2019","IsApplicable":true,"IsCompliant":true}`,
		"upper case":            `{"DEVICEID":"4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e","PROFILEID":"9e1b90be-e83e-485b-a5ec-4a429412e734","CONFIGURATIONID":"1.1.2","RBACGROUPNAME":"Tier0 Servers","OSPLATFORM":"WindowsServer2019","ISAPPLICABLE":true,"ISCOMPLIANT":true}`,
	}

	want := record{
		DeviceID:        "4f1c8e2a9b7d6c5e3f2a1b0c9d8e7f6a5b4c3d2e",
		ProfileID:       "9e1b90be-e83e-485b-a5ec-4a429412e734",
		ConfigurationID: "1.1.2",
		RbacGroupName:   "Tier0 Servers",
		OSPlatform:      "WindowsServer2019",
		IsApplicable:    true,
		IsCompliant:     true,
	}

	for name, input := range variants {
		t.Run(name, func(t *testing.T) {
			var (
				dec AssessmentDecoder
				got Assessment
			)
			if err := dec.Decode([]byte(input), &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if r := recordOf(&got); r != want {
				t.Errorf("fast decoder:\n got %+v\nwant %+v", r, want)
			}

			ref, err := DecodeAssessmentReference([]byte(input))
			if err != nil {
				t.Fatalf("DecodeAssessmentReference: %v", err)
			}
			refAssessment := ref.Assessment()
			if r := recordOf(&refAssessment); r != want {
				t.Errorf("reference decoder:\n got %+v\nwant %+v", r, want)
			}
		})
	}
}

func TestDecodeAssessmentNotApplicable(t *testing.T) {
	// K09: a record that does not apply carries a meaningless isCompliant, or none.
	tests := []struct {
		name  string
		input string
	}{
		{"isCompliant false", `{"deviceId":"d1","profileId":"p1","configurationId":"18.9.4.1","isApplicable":false,"isCompliant":false}`},
		{"isCompliant absent", `{"deviceId":"d1","profileId":"p1","configurationId":"2.3.1.1","isApplicable":false}`},
		{"isApplicable absent", `{"deviceId":"d1","profileId":"p1","configurationId":"2.3.1.1","isCompliant":true}`},
		{"isApplicable null", `{"deviceId":"d1","profileId":"p1","configurationId":"2.3.1.1","isApplicable":null,"isCompliant":false}`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				dec AssessmentDecoder
				got Assessment
			)
			if err := dec.Decode([]byte(tt.input), &got); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.IsApplicable {
				t.Errorf("IsApplicable = true, want false")
			}

			ref, err := DecodeAssessmentReference([]byte(tt.input))
			if err != nil {
				t.Fatalf("DecodeAssessmentReference: %v", err)
			}
			if ref.IsApplicable {
				t.Errorf("reference IsApplicable = true, want false")
			}
		})
	}
}

func TestDecodeAssessmentMissingKey(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		wantErr string
	}{
		{"no deviceId", `{"profileId":"p1","configurationId":"1.1.1"}`, `missing key "deviceId"`},
		{"null deviceId", `{"deviceId":null,"profileId":"p1","configurationId":"1.1.1"}`, `missing key "deviceId"`},
		{"empty profileId", `{"deviceId":"d1","profileId":"","configurationId":"1.1.1"}`, `missing key "profileId"`},
		{"no configurationId", `{"DeviceId":"d1","ProfileId":"p1"}`, `missing key "configurationId"`},
		{"empty object", `{}`, `missing key "deviceId"`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				dec AssessmentDecoder
				got Assessment
			)
			err := dec.Decode([]byte(tt.input), &got)
			if !errors.Is(err, ErrMissingKey) || err.Error() != tt.wantErr {
				t.Errorf("Decode error = %v, want %q wrapping ErrMissingKey", err, tt.wantErr)
			}

			_, err = DecodeAssessmentReference([]byte(tt.input))
			if !errors.Is(err, ErrMissingKey) || err.Error() != tt.wantErr {
				t.Errorf("DecodeAssessmentReference error = %v, want %q wrapping ErrMissingKey", err, tt.wantErr)
			}
		})
	}
}

func TestDecodeAssessmentRejectsMalformedInput(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		wantErr    string
		wantOffset int
	}{
		{"empty input", ``, "unexpected end of input at offset 0", 0},
		{"only a BOM", "\xEF\xBB\xBF", "unexpected end of input at offset 3", 3},
		{"not JSON", `deviceId=1`, "invalid character 'd' looking for the start of a record object at offset 0", 0},
		{"an array", `[{"deviceId":"d1"}]`, "invalid character '[' looking for the start of a record object at offset 0", 0},
		{"truncated", `{"deviceId":"d1"`, "unexpected end of input at offset 16", 16},
		{"truncated string", `{"deviceId":"d1`, "unexpected end of input at offset 15", 15},
		{"trailing comma", `{"deviceId":"d1",}`, "invalid character '}' looking for the start of an object key at offset 17", 17},
		{"missing colon", `{"deviceId" "d1"}`, `invalid character '"' after an object key at offset 12`, 12},
		{"bad literal", `{"note":tru}`, "invalid character '}' in literal true at offset 11", 11},
		{"leading zero", `{"n":01}`, "invalid character '1' after an object member at offset 6", 6},
		{"bare minus", `{"n":-}`, "invalid character '}' in a number at offset 6", 6},
		{"control character", "{\"deviceId\":\"d\x011\"}", "invalid character byte 0x01 in a string (control characters must be escaped) at offset 14", 14},
		{"bad escape", `{"deviceId":"d\x"}`, "invalid character 'x' in a string escape at offset 15", 15},
		{"bad unicode escape", `{"deviceId":"\u12G4"}`, "invalid character 'G' in a \\u escape at offset 17", 17},
		{"unclosed nested array", `{"source":["a","b"}`, "invalid character '}' after an array element at offset 18", 18},
		{"data after the record", `{"deviceId":"d1"} {}`, "invalid character '{' after the record at offset 18", 18},
		{"narrow no-break space as indentation", "{\"source\": [\u202f\"x\"]}", "invalid character byte 0xe2 looking for the start of a value at offset 12", 12},
		{"deviceId is an array", `{"deviceId":["d1"]}`, `"deviceId": expected a string, number or null, found '[' at offset 12`, 12},
		{"isApplicable is a number", `{"isApplicable":1}`, `"isApplicable": expected true, false or null, found '1' at offset 16`, 16},
		{"isCompliant is a word", `{"isCompliant":"yes"}`, `"isCompliant": expected "true" or "false", found "yes" at offset 15`, 15},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				dec AssessmentDecoder
				got Assessment
			)
			err := dec.Decode([]byte(tt.input), &got)

			var syntaxErr *SyntaxError
			if !errors.As(err, &syntaxErr) {
				t.Fatalf("Decode error = %v, want a *SyntaxError", err)
			}
			if err.Error() != tt.wantErr || syntaxErr.Offset != tt.wantOffset {
				t.Errorf("Decode error = %q (offset %d), want %q (offset %d)", err, syntaxErr.Offset, tt.wantErr, tt.wantOffset)
			}
		})
	}
}

func TestDecodeAssessmentNestingLimit(t *testing.T) {
	nested := func(depth int) []byte {
		// The record itself is one level; the unknown value adds depth-1.
		return []byte(`{"deviceId":"d","profileId":"p","configurationId":"c","x":` +
			strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`)
	}

	var (
		dec AssessmentDecoder
		got Assessment
	)
	if err := dec.Decode(nested(maxDepth), &got); err != nil {
		t.Errorf("Decode at depth %d: %v", maxDepth, err)
	}
	if _, err := DecodeAssessmentReference(nested(maxDepth)); err != nil {
		t.Errorf("DecodeAssessmentReference at depth %d: %v", maxDepth, err)
	}

	if err := dec.Decode(nested(maxDepth+1), &got); err == nil || !strings.Contains(err.Error(), "nesting deeper than 10000 levels") {
		t.Errorf("Decode at depth %d: error = %v, want nesting error", maxDepth+1, err)
	}
	if _, err := DecodeAssessmentReference(nested(maxDepth + 1)); err == nil {
		t.Errorf("DecodeAssessmentReference at depth %d: no error", maxDepth+1)
	}
}

// oddRecords are shapes on which the fast decoder and the reference decoder must
// agree exactly. They also seed FuzzDecodeAssessment.
var oddRecords = []struct {
	name  string
	input string
}{
	{"plain", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"Servers","osPlatform":"Windows11","isApplicable":true,"isCompliant":true}`},
	{"escaped quotes", `{"deviceId":"d\"1\"","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"Tier \"0\" \\ Servers"}`},
	{"all simple escapes", `{"deviceId":"a\/b\\c\"d\be\ff\ng\rh\ti","profileId":"p1","configurationId":"1.1.1"}`},
	{"unicode escapes", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"B\u00fcro M\u00FCnchen \u20ac"}`},
	{"raw UTF-8", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"Büro München €","osPlatform":"視窗"}`},
	{"surrogate pair", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\ud83d\udd12 locked"}`},
	{"lone high surrogate", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\ud800x"}`},
	{"lone low surrogate", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\udc00"}`},
	{"surrogates reversed", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\udc00\ud800"}`},
	{"high surrogate then letter escape", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\ud800\u0041"}`},
	{"invalid UTF-8", "{\"deviceId\":\"d1\",\"profileId\":\"p1\",\"configurationId\":\"1.1.1\",\"rbacGroupName\":\"a\xff\xfeb\",\"osPlatform\":\"\xed\xa0\x80\"}"},
	{"escaped key", `{"device\u0049d":"d1","profile\u0049D":"p1","configurationId":"1.1.1"}`},
	{"key with long s", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","oſPlatform":"Windows10"}`},
	{"keys in another order", `{"isCompliant":true,"osPlatform":"Windows10","configurationId":"1.1.1","isApplicable":true,"rbacGroupName":"g","profileId":"p1","deviceId":"d1"}`},
	{"duplicate keys last wins", `{"deviceId":"d1","DeviceId":"d2","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"a","rbacGroupName":null,"isApplicable":true,"IsApplicable":false}`},
	{"nulls", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":null,"osPlatform":null,"isApplicable":null,"isCompliant":null}`},
	{"absent optional keys", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1"}`},
	{"empty strings", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"","osPlatform":""}`},
	{"unknown keys with nested values", `{"deviceId":"d1","extra":{"a":[1,{"b":[[],{}]}],"c":"}],\"{["},"profileId":"p1","list":[true,false,null,-0.5e+10,"x"],"configurationId":"1.1.1","e":{}}`},
	{"numbers for strings", `{"deviceId":123456,"profileId":-1.5E-3,"configurationId":1.1,"rbacGroupName":86,"osPlatform":0}`},
	{"booleans as strings", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","isApplicable":"true","isCompliant":"FALSE"}`},
	{"booleans as mixed-case strings", `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","isApplicable":"True","isCompliant":"\u0074rue"}`},
	{"whitespace everywhere", " \r\n\t{ \"deviceId\" :\t\"d1\" ,\n\"profileId\"\r\n:\"p1\" , \"configurationId\" : \"1.1.1\" ,\"isApplicable\" : true , \"x\" : [ 1 , { } ] }\n\t "},
	{"BOM", "\xEF\xBB\xBF{\"deviceId\":\"d1\",\"profileId\":\"p1\",\"configurationId\":\"1.1.1\",\"isApplicable\":true}"},
	{"all fields of the documentation", `{"id":"d1_p1_1.1.1","configurationId":"1.1.1","deviceId":"d1","deviceName":" host.contoso.local ","profileId":"p1","osPlatform":"WindowsServer2019","osVersion":"10.0.17763.2330","rbacGroupId":86,"rbacGroupName":"UnassignedGroup","isApplicable":true,"isCompliant":false,"dataCollectionTimeOffset":"2021-12-22T00:08:02.478Z","complianceCalculationTimeOffset":"2020-11-03 10:13:34.8476880","recommendedValue":["Greater than or equal '24'"],"currentValue":["24"],"source":["password_hist_len"],"isExempt":false}`},
	{"PascalCase file line", `{"Id":"d1_p1_1.1.1","ConfigurationId":"1.1.1","DeviceId":"d1","DeviceName":null,"ProfileId":"p1","OSPlatform":"Windows10","OSVersion":"10.0.19045","RbacGroupId":"Unassigned","RbacGroupName":"Unassigned","IsApplicable":true,"IsCompliant":true,"DataCollectionTimeOffset":"2020-12-30 11:07:15","RecommendedValue":null,"CurrentValue":null,"Source":null}`},
	{"missing deviceId", `{"profileId":"p1","configurationId":"1.1.1"}`},
	{"empty configurationId", `{"deviceId":"d1","profileId":"p1","configurationId":""}`},
}

func TestDecodeAssessmentMatchesReference(t *testing.T) {
	for _, tt := range oddRecords {
		t.Run(tt.name, func(t *testing.T) {
			ref, refErr := DecodeAssessmentReference([]byte(tt.input))
			if refErr != nil && !errors.Is(refErr, ErrMissingKey) {
				t.Fatalf("DecodeAssessmentReference: %v", refErr)
			}

			var (
				dec AssessmentDecoder
				got Assessment
			)
			err := dec.Decode([]byte(tt.input), &got)

			if (err == nil) != (refErr == nil) || (err != nil && err.Error() != refErr.Error()) {
				t.Fatalf("Decode error = %v, reference error = %v", err, refErr)
			}
			if want := ref.Assessment(); !reflect.DeepEqual(got, want) {
				t.Errorf("Decode:\n got %+v\nwant %+v (reference)", recordOf(&got), recordOf(&want))
			}
		})
	}
}

func TestDecodeAssessmentResetsPreviousRecord(t *testing.T) {
	var (
		dec AssessmentDecoder
		got Assessment
	)
	full := `{"deviceId":"d1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"g\u00e9","osPlatform":"Windows11","isApplicable":true,"isCompliant":true}`
	if err := dec.Decode([]byte(full), &got); err != nil {
		t.Fatal(err)
	}

	sparse := `{"deviceId":"d2","profileId":"p2","configurationId":"1.1.2"}`
	if err := dec.Decode([]byte(sparse), &got); err != nil {
		t.Fatal(err)
	}

	want := record{DeviceID: "d2", ProfileID: "p2", ConfigurationID: "1.1.2"}
	if r := recordOf(&got); r != want {
		t.Errorf("second Decode:\n got %+v\nwant %+v", r, want)
	}
}

func TestDecodeAssessmentDoesNotAllocate(t *testing.T) {
	inputs := map[string][]byte{
		"camelCase":  appendSampleRecord(nil, 42, false),
		"PascalCase": appendSampleRecord(nil, 42, true),
		"escapes":    []byte(`{"deviceId":"d\u00e9\"1","profileId":"p1","configurationId":"1.1.1","rbacGroupName":"\ud83d\udd12","isApplicable":"true"}`),
	}

	for name, input := range inputs {
		t.Run(name, func(t *testing.T) {
			var (
				dec AssessmentDecoder
				got Assessment
			)
			allocs := testing.AllocsPerRun(100, func() {
				if err := dec.Decode(input, &got); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Decode allocates %v times per record, want 0", allocs)
			}
		})
	}
}

func FuzzDecodeAssessment(f *testing.F) {
	for _, tt := range oddRecords {
		f.Add([]byte(tt.input))
	}
	f.Add(appendSampleRecord(nil, 7, false))
	f.Add(appendSampleRecord(nil, 7, true))
	f.Add([]byte(`{"deviceId":"d","profileId":"p","configurationId":"c","x":[[[{"y":"\ud834\udd1e"}]]]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var (
			dec AssessmentDecoder
			got Assessment
		)
		err := dec.Decode(data, &got)

		ref, refErr := DecodeAssessmentReference(data)
		switch {
		case refErr == nil:
			if err != nil {
				t.Fatalf("Decode failed where the reference succeeded: %v", err)
			}
		case errors.Is(refErr, ErrMissingKey):
			if err == nil || err.Error() != refErr.Error() {
				t.Fatalf("Decode error = %v, reference error = %v", err, refErr)
			}
		default:
			return // The reference rejects it; the fast decoder may be more lenient.
		}

		if want := ref.Assessment(); !reflect.DeepEqual(got, want) {
			t.Fatalf("Decode:\n got %+v\nwant %+v (reference)", recordOf(&got), recordOf(&want))
		}
	})
}

// FuzzDecodeAssessmentAfterAnother checks that what the decoder remembers of
// one record (the keys and their order) never changes how it reads the next one.
func FuzzDecodeAssessmentAfterAnother(f *testing.F) {
	for i, tt := range oddRecords {
		f.Add([]byte(oddRecords[(i+1)%len(oddRecords)].input), []byte(tt.input))
	}
	for _, pascal := range []bool{false, true} {
		sample := appendSampleRecord(nil, 7, pascal)
		f.Add(sample, sample)
		f.Add(sample, bytes.Replace(sample, []byte(`:true`), []byte(` : true`), 1))
		f.Add(sample, bytes.Replace(sample, []byte(`,"`), []byte(`,"x":1,"`), 2))
	}

	f.Fuzz(func(t *testing.T, first, second []byte) {
		var (
			dec AssessmentDecoder
			got Assessment
		)
		_ = dec.Decode(first, &got)
		err := dec.Decode(second, &got)

		var fresh AssessmentDecoder
		var want Assessment
		wantErr := fresh.Decode(second, &want)

		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("after %q: Decode error = %v, with a fresh decoder %v", first, err, wantErr)
		}
		if !reflect.DeepEqual(recordOf(&got), recordOf(&want)) {
			t.Fatalf("after %q: Decode:\n got %+v\nwant %+v (fresh decoder)", first, recordOf(&got), recordOf(&want))
		}
	})
}

func BenchmarkDecodeAssessment(b *testing.B) {
	input := appendSampleRecord(nil, 42, false)

	b.Run("fast", func(b *testing.B) {
		var (
			dec AssessmentDecoder
			got Assessment
		)
		b.SetBytes(int64(len(input)))
		b.ReportAllocs()

		for b.Loop() {
			if err := dec.Decode(input, &got); err != nil {
				b.Fatal(err)
			}
		}
		reportRecordsPerSecond(b, b.N)
	})

	b.Run("reference", func(b *testing.B) {
		b.SetBytes(int64(len(input)))
		b.ReportAllocs()

		for b.Loop() {
			if _, err := DecodeAssessmentReference(input); err != nil {
				b.Fatal(err)
			}
		}
		reportRecordsPerSecond(b, b.N)
	})
}

func reportRecordsPerSecond(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// appendSampleRecord appends a realistic record of about 700 bytes for device
// number device, in the casing of the JSON API or of the export files.
func appendSampleRecord(dst []byte, device int, pascal bool) []byte {
	parts := sampleCamel
	if pascal {
		parts = samplePascal
	}

	dst = append(dst, parts[0]...)
	dst = appendDeviceID(dst, device)
	dst = append(dst, parts[1]...)
	dst = appendDeviceID(dst, device)

	return append(dst, parts[2]...)
}

// appendDeviceID appends a 40-hex-digit device id.
func appendDeviceID(dst []byte, device int) []byte {
	const width = 40

	start := len(dst)
	dst = strconv.AppendUint(dst, uint64(device), 16)
	for len(dst)-start < width {
		dst = append(dst, '0')
	}

	return dst
}

var sampleCamel = [3]string{
	`{"id":"`,
	`_9e1b90be-e83e-485b-a5ec-4a429412e734_18.9.47.5.1","configurationId":"18.9.47.5.1","profileId":"9e1b90be-e83e-485b-a5ec-4a429412e734","deviceId":"`,
	`","deviceName":"wks-0042.corp.contoso.com","osPlatform":"Windows11","osVersion":"10.0.22631.3296","rbacGroupId":86,"rbacGroupName":"Workstations EMEA","isApplicable":true,"isCompliant":false,"dataCollectionTimeOffset":"2024-03-18T04:12:55.123Z","complianceCalculationTimeOffset":"2024-03-18T05:00:00Z","recommendedValue":["Equals '1'"],"currentValue":["0"],"source":["hkey_local_machine\\software\\policies\\microsoft\\windows defender\\spynet\\spynetreporting"],"isExempt":false}`,
}

var samplePascal = [3]string{
	`{"Id":"`,
	`_9e1b90be-e83e-485b-a5ec-4a429412e734_18.9.47.5.1","ConfigurationId":"18.9.47.5.1","ProfileId":"9e1b90be-e83e-485b-a5ec-4a429412e734","DeviceId":"`,
	`","DeviceName":"wks-0042.corp.contoso.com","OSPlatform":"Windows11","OSVersion":"10.0.22631.3296","RbacGroupId":86,"RbacGroupName":"Workstations EMEA","IsApplicable":true,"IsCompliant":false,"DataCollectionTimeOffset":"2024-03-18 04:12:55.1230000","ComplianceCalculationTimeOffset":"2024-03-18 05:00:00","RecommendedValue":["Equals '1'"],"CurrentValue":["0"],"Source":["hkey_local_machine\\software\\policies\\microsoft\\windows defender\\spynet\\spynetreporting"],"IsExempt":false}`,
}
