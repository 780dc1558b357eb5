package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The Defender for Endpoint documentation and the wire disagree on the JSON types of
// several fields (mde-api.md sections 5 and 10). The types in this file accept every
// shape seen so far. Each of them treats null as its zero value, so that a later
// duplicate key always overrides an earlier one, as in the fast decoder.

// FlexString is a string sent as a JSON string, a JSON number (kept as its literal
// text, e.g. rbacGroupId 86 or cce 35116) or null (the empty string).
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *FlexString) UnmarshalJSON(data []byte) error {
	switch {
	case isJSONNull(data):
		*s = ""
	case data[0] == '"':
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return err
		}
		*s = FlexString(str)
	case isJSONNumberStart(data[0]):
		*s = FlexString(data)
	default:
		return fmt.Errorf("expected a string, number or null, got %s", truncateJSON(data))
	}

	return nil
}

// StringList is a list of strings sent as a JSON array, as a single string (a list
// of one), or as null. A missing key, null and [] all give a nil list. Elements may
// be strings, numbers or null (an empty string).
type StringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *StringList) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		*l = nil
		return nil
	}

	if data[0] != '[' {
		var one FlexString
		if err := one.UnmarshalJSON(data); err != nil {
			return fmt.Errorf("expected an array, string or null: %w", err)
		}
		*l = StringList{string(one)}
		return nil
	}

	var elems []FlexString
	if err := json.Unmarshal(data, &elems); err != nil {
		return err
	}

	*l = nil
	for _, e := range elems {
		*l = append(*l, string(e))
	}

	return nil
}

// MarshalJSON implements json.Marshaler. A nil list is written as [], never null.
func (l StringList) MarshalJSON() ([]byte, error) {
	if l == nil {
		return []byte("[]"), nil
	}

	return json.Marshal([]string(l))
}

// FlexBool is a boolean sent as a JSON boolean, as the string "true" or "false" (in
// any ASCII case), or as null (false).
type FlexBool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *FlexBool) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		*b = false
		return nil
	}

	text := data
	if data[0] == '"' {
		var str string
		if err := json.Unmarshal(data, &str); err != nil {
			return err
		}
		text = []byte(str)
	}

	v, ok := parseBoolText(text)
	if !ok {
		return fmt.Errorf("expected true, false or null, got %s", truncateJSON(data))
	}
	*b = FlexBool(v)

	return nil
}

// FlexInt is an integer sent as a JSON number, as a string holding one, or as null
// or "" (zero).
type FlexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (n *FlexInt) UnmarshalJSON(data []byte) error {
	var text FlexString
	if err := text.UnmarshalJSON(data); err != nil {
		return err
	}

	if text == "" {
		*n = 0
		return nil
	}

	v, err := strconv.Atoi(string(text))
	if err != nil {
		return fmt.Errorf("expected an integer, got %s", truncateJSON(data))
	}
	*n = FlexInt(v)

	return nil
}

// Time is a timestamp in one of the formats the service uses:
// "2021-12-22T00:08:02.478Z" (RFC 3339), "2020-12-30 11:07:15" and
// "2020-11-03 10:13:34.8476880" (no zone, meaning UTC). The service's zero date
// 0001-01-01T00:00:00Z, null and "" all mean unknown and give the zero Time.
// A decoded Time is always in UTC.
type Time struct {
	time.Time
}

// timeLayouts are tried in order. time.Parse accepts fractional seconds of any
// length after the seconds even when the layout has none.
var timeLayouts = []string{
	time.RFC3339,
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
}

// ParseTime parses text in one of the formats accepted by Time.
func ParseTime(text string) (Time, error) {
	if text == "" {
		return Time{}, nil
	}

	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, text)
		if err != nil {
			continue
		}
		if t.IsZero() {
			return Time{}, nil
		}
		return Time{t.UTC()}, nil
	}

	return Time{}, fmt.Errorf("unknown time format %q", text)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(data []byte) error {
	if isJSONNull(data) {
		*t = Time{}
		return nil
	}

	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return fmt.Errorf("expected a time string or null, got %s", truncateJSON(data))
	}

	parsed, err := ParseTime(text)
	if err != nil {
		return err
	}
	*t = parsed

	return nil
}

// parseBoolText accepts "true" and "false" in any ASCII case. Unicode case folding
// is deliberately not applied (strings.EqualFold would accept "falſe").
func parseBoolText(text []byte) (value, ok bool) {
	switch {
	case equalFoldASCII(text, "true"):
		return true, true
	case equalFoldASCII(text, "false"):
		return false, true
	}

	return false, false
}

// equalFoldASCII reports whether b equals lower, a lower-case ASCII letter string,
// ignoring ASCII case. For a letter n, c|0x20 == n holds only for c == n and for
// its upper-case form.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}

	for i := range len(b) {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}

	return true
}

func isJSONNull(data []byte) bool {
	return bytes.Equal(data, []byte("null"))
}

func isJSONNumberStart(c byte) bool {
	return c == '-' || ('0' <= c && c <= '9')
}

// truncateJSON shortens a raw value for an error message.
func truncateJSON(data []byte) string {
	const limit = 40
	if len(data) > limit {
		return string(data[:limit]) + "..."
	}

	return string(data)
}
