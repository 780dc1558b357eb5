package simulator

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Record fields, in the order the service writes them.
const (
	fieldID = iota
	fieldConfigurationID
	fieldDeviceID
	fieldDeviceName
	fieldProfileID
	fieldOSPlatform
	fieldOSVersion
	fieldRbacGroupID
	fieldRbacGroupName
	fieldIsApplicable
	fieldIsCompliant
	fieldDataCollectionTime
	fieldComplianceCalculationTime
	fieldRecommendedValue
	fieldCurrentValue
	fieldSource
	fieldIsExempt
	fieldExtra // a key no documentation names, on odd records
	fieldCount
)

var camelNames = [fieldCount]string{
	"id", "configurationId", "deviceId", "deviceName", "profileId", "osPlatform", "osVersion",
	"rbacGroupId", "rbacGroupName", "isApplicable", "isCompliant", "dataCollectionTimeOffset",
	"complianceCalculationTimeOffset", "recommendedValue", "currentValue", "source", "isExempt",
	"assessmentMetadata",
}

var pascalNames = [fieldCount]string{
	"Id", "ConfigurationId", "DeviceId", "DeviceName", "ProfileId", "OsPlatform", "OsVersion",
	"RbacGroupId", "RbacGroupName", "IsApplicable", "IsCompliant", "DataCollectionTimeOffset",
	"ComplianceCalculationTimeOffset", "RecommendedValue", "CurrentValue", "Source", "IsExempt",
	"AssessmentMetadata",
}

// extraValue is the value of the unknown key: nested, with a null inside.
const extraValue = `{"engine":"TVM","ruleVersion":3,"tags":["baseline",null]}`

// keySet is how one wire spells the record keys.
type keySet struct {
	keys [fieldCount][]byte // `{"id":` for the first field, `,"name":` for the others
	// omitEmptyArrays drops keys whose array is empty, as the file exports do.
	omitEmptyArrays bool
}

func newKeySet(names [fieldCount]string, omitEmptyArrays bool) *keySet {
	k := &keySet{omitEmptyArrays: omitEmptyArrays}
	for i, name := range names {
		sep := byte(',')
		if i == fieldID {
			sep = '{'
		}
		k.keys[i] = []byte(string(sep) + `"` + name + `":`)
	}
	return k
}

var (
	apiKeys  = newKeySet(camelNames, false)
	fileKeys = map[Casing]*keySet{
		PascalCase: newKeySet(pascalNames, true),
		CamelCase:  newKeySet(camelNames, true),
	}
)

// configFrag holds a configuration's values already encoded as JSON.
type configFrag struct {
	id          string
	recommended []byte
	source      []byte
	good        []byte // currentValue when compliant
	bad         []byte // currentValue when not

	goodValues, badValues []string
}

func newConfigFrag(c Configuration, it item) configFrag {
	return configFrag{
		id:          c.ID,
		recommended: appendStrings(nil, c.RecommendedValue),
		source:      appendStrings(nil, c.Source),
		good:        appendStrings(nil, it.good),
		bad:         appendStrings(nil, it.bad),
		goodValues:  it.good,
		badValues:   it.bad,
	}
}

var (
	jsonNull       = []byte("null")
	jsonEmptyArray = []byte("[]")
)

// appendRecord appends record r, drawn as f, as one JSON object spelt by k.
// It runs once per record served, so it only appends ready-made pieces.
func (g *generation) appendRecord(b []byte, r ref, f facts, k *keySet) []byte {
	d := &g.devices[r.device]
	gr := &g.groups[d.group]
	c := &g.configFrags[r.config]
	profileID := g.profiles[r.profile].ID

	b = append(b, k.keys[fieldID]...)
	b = append(b, '"')
	b = append(b, d.id...)
	b = append(b, '_')
	b = append(b, profileID...)
	b = append(b, '_')
	b = append(b, c.id...)
	b = append(b, '"')
	b = appendPlain(b, k.keys[fieldConfigurationID], c.id)
	b = appendPlain(b, k.keys[fieldDeviceID], d.id)
	b = appendRaw(b, k.keys[fieldDeviceName], d.nameJSON)
	b = appendPlain(b, k.keys[fieldProfileID], profileID)
	b = appendPlain(b, k.keys[fieldOSPlatform], platforms[d.platform].name)
	b = appendPlain(b, k.keys[fieldOSVersion], d.osVersion)

	b = append(b, k.keys[fieldRbacGroupID]...)
	if f.shape == recordStringNumbers && gr.idJSON[0] != '"' {
		b = strconv.AppendQuote(b, gr.id)
	} else {
		b = append(b, gr.idJSON...)
	}
	b = appendPlain(b, k.keys[fieldRbacGroupName], gr.name)

	b = appendBool(b, k.keys[fieldIsApplicable], f.applicable)
	switch f.shape {
	case recordNoCompliantKey:
	case recordCompliantNotApplicable:
		b = appendBool(b, k.keys[fieldIsCompliant], true)
	default:
		b = appendBool(b, k.keys[fieldIsCompliant], f.compliant)
	}
	if f.shape != recordNoCollectionTime {
		b = appendRaw(b, k.keys[fieldDataCollectionTime], d.collectedJSON)
	}
	b = appendRaw(b, k.keys[fieldComplianceCalculationTime], d.calculatedJSON)

	b = k.appendArray(b, fieldRecommendedValue, c.recommended)
	b = k.appendArray(b, fieldCurrentValue, currentValue(c, f))
	if f.shape == recordNullSource {
		b = appendRaw(b, k.keys[fieldSource], jsonNull)
	} else {
		b = k.appendArray(b, fieldSource, c.source)
	}
	b = appendBool(b, k.keys[fieldIsExempt], f.exempt)

	if f.shape == recordExtraKey {
		b = append(b, k.keys[fieldExtra]...)
		b = append(b, extraValue...)
	}
	return append(b, '}')
}

// currentValue is what the device reported for the setting.
func currentValue(c *configFrag, f facts) []byte {
	switch {
	case f.shape == recordNullCurrentValue:
		return jsonNull
	case !f.applicable:
		return jsonEmptyArray
	case f.compliant:
		return c.good
	}
	return c.bad
}

func (k *keySet) appendArray(b []byte, field int, array []byte) []byte {
	if k.omitEmptyArrays && len(array) == 2 && array[0] == '[' {
		return b
	}
	return appendRaw(b, k.keys[field], array)
}

// appendPlain appends a string that needs no escaping: hex ids, GUIDs, names
// from the catalog.
func appendPlain(b, key []byte, s string) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendRaw(b, key, value []byte) []byte {
	b = append(b, key...)
	return append(b, value...)
}

func appendBool(b, key []byte, v bool) []byte {
	b = append(b, key...)
	return strconv.AppendBool(b, v)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s, false)
	}
	return append(b, ']')
}

// appendTime appends t as the service writes times, e.g. "2021-12-22T00:08:02.478Z".
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

// deviceNameJSON is the deviceName value of d's records.
func deviceNameJSON(d device) []byte {
	switch d.odd {
	case deviceNullName:
		return jsonNull
	case deviceEscapedName:
		return appendJSONString(nil, d.name, true)
	}
	return appendJSONString(nil, d.name, false)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. With asciiOnly every non-ASCII
// character is written as a \u escape, as .NET serializers do.
func appendJSONString(b []byte, s string, asciiOnly bool) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = appendUnicodeEscape(b, r)
		case r >= utf8.RuneSelf && asciiOnly:
			if r > 0xffff {
				r1, r2 := surrogates(r)
				b = appendUnicodeEscape(appendUnicodeEscape(b, r1), r2)
			} else {
				b = appendUnicodeEscape(b, r)
			}
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

func appendUnicodeEscape(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
