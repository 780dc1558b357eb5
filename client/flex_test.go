package client

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestFlexString(t *testing.T) {
	tests := []struct {
		input   string
		want    FlexString
		wantErr bool
	}{
		{input: `"CCE-35116-3"`, want: "CCE-35116-3"},
		{input: `35116`, want: "35116"},
		{input: `-1.5e3`, want: "-1.5e3"},
		{input: `null`, want: ""},
		{input: `""`, want: ""},
		{input: `"M\u00fcnchen \"HQ\""`, want: `München "HQ"`},
		{input: `true`, wantErr: true},
		{input: `["a"]`, wantErr: true},
		{input: `{}`, wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got := FlexString("previous")
			err := json.Unmarshal([]byte(tt.input), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal(%s) = %q, want an error", tt.input, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Unmarshal(%s) = %q, %v; want %q", tt.input, got, err, tt.want)
			}
		})
	}
}

func TestStringList(t *testing.T) {
	tests := []struct {
		input   string
		want    StringList
		wantErr bool
	}{
		{input: `["Level 1 - Domain Controller","Level 1 - Member Server"]`, want: StringList{"Level 1 - Domain Controller", "Level 1 - Member Server"}},
		{input: `"Level 1 - Member Server"`, want: StringList{"Level 1 - Member Server"}},
		{input: `86`, want: StringList{"86"}},
		{input: `null`, want: nil},
		{input: `[]`, want: nil},
		{input: `[null, 24, "x"]`, want: StringList{"", "24", "x"}},
		{input: `{}`, wantErr: true},
		{input: `[true]`, wantErr: true},
		{input: `[["nested"]]`, wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got := StringList{"previous"}
			err := json.Unmarshal([]byte(tt.input), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal(%s) = %q, want an error", tt.input, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", tt.input, got, err, tt.want)
			}
		})
	}
}

func TestStringListMarshalsNilAsEmptyArray(t *testing.T) {
	got, err := json.Marshal(struct{ Source StringList }{})
	if err != nil || string(got) != `{"Source":[]}` {
		t.Errorf("Marshal = %s, %v; want {\"Source\":[]}", got, err)
	}
}

func TestFlexBool(t *testing.T) {
	tests := []struct {
		input   string
		want    FlexBool
		wantErr bool
	}{
		{input: `true`, want: true},
		{input: `false`, want: false},
		{input: `null`, want: false},
		{input: `"true"`, want: true},
		{input: `"True"`, want: true},
		{input: `"FALSE"`, want: false},
		{input: `"\u0074rue"`, want: true},
		{input: `"yes"`, wantErr: true},
		{input: `""`, wantErr: true},
		{input: `"falſe"`, wantErr: true},
		{input: `1`, wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got := !tt.want
			err := json.Unmarshal([]byte(tt.input), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal(%s) = %v, want an error", tt.input, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.input, got, err, tt.want)
			}
		})
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		input   string
		want    FlexInt
		wantErr bool
	}{
		{input: `51`, want: 51},
		{input: `"272"`, want: 272},
		{input: `null`, want: 0},
		{input: `""`, want: 0},
		{input: `1.5`, wantErr: true},
		{input: `"many"`, wantErr: true},
		{input: `true`, wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got := FlexInt(-1)
			err := json.Unmarshal([]byte(tt.input), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal(%s) = %v, want an error", tt.input, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.input, got, err, tt.want)
			}
		})
	}
}

func TestTime(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    time.Time
		wantErr bool
	}{
		{name: "RFC 3339 with Z", input: `"2021-12-22T00:08:02.478Z"`, want: time.Date(2021, 12, 22, 0, 8, 2, 478e6, time.UTC)},
		{name: "RFC 3339 with offset", input: `"2021-05-11T02:00:00+02:00"`, want: time.Date(2021, 5, 11, 0, 0, 0, 0, time.UTC)},
		{name: "space, no zone", input: `"2020-12-30 11:07:15"`, want: time.Date(2020, 12, 30, 11, 7, 15, 0, time.UTC)},
		{name: "seven fractional digits", input: `"2020-11-03 10:13:34.8476880"`, want: time.Date(2020, 11, 3, 10, 13, 34, 847688000, time.UTC)},
		{name: "T, no zone", input: `"2021-01-11T09:47:58.854"`, want: time.Date(2021, 1, 11, 9, 47, 58, 854e6, time.UTC)},
		{name: "zero date", input: `"0001-01-01T00:00:00Z"`},
		{name: "zero date in file format", input: `"0001-01-01 00:00:00.0000000"`},
		{name: "null", input: `null`},
		{name: "empty", input: `""`},
		{name: "not a time", input: `"yesterday"`, wantErr: true},
		{name: "number", input: `1640131682`, wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Time{time.Now()}
			err := json.Unmarshal([]byte(tt.input), &got)
			if tt.wantErr {
				if err == nil {
					t.Errorf("Unmarshal(%s) = %v, want an error", tt.input, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.input, err)
			}

			if tt.want.IsZero() {
				if !got.IsZero() {
					t.Errorf("Unmarshal(%s) = %v, want the zero Time (unknown)", tt.input, got)
				}
				return
			}
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("Unmarshal(%s) = %v, want %v in UTC", tt.input, got, tt.want)
			}
		})
	}
}

func TestFlexTypesLetTheLastDuplicateKeyWin(t *testing.T) {
	var got struct {
		Name   FlexString `json:"name"`
		Values StringList `json:"values"`
		Flag   FlexBool   `json:"flag"`
		When   Time       `json:"when"`
	}
	input := `{"name":"a","values":["x"],"flag":true,"when":"2021-12-22T00:08:02Z",
		"name":null,"values":null,"flag":null,"when":null}`

	if err := json.Unmarshal([]byte(input), &got); err != nil {
		t.Fatal(err)
	}
	if got.Name != "" || got.Values != nil || bool(got.Flag) || !got.When.IsZero() {
		t.Errorf("after null duplicates: %+v, want all zero", got)
	}
}
