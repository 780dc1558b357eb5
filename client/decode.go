package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMissingKey is wrapped by the error for a record whose deviceId, profileId or
// configurationId is absent, null or empty. Such a record cannot be counted; callers
// skip it and count it instead of failing the whole part.
var ErrMissingKey = errors.New("missing key")

// The three possible ErrMissingKey errors are built once: a part full of incomplete
// records must not allocate one error per record.
var (
	errMissingDeviceID        = fmt.Errorf("%w %q", ErrMissingKey, "deviceId")
	errMissingProfileID       = fmt.Errorf("%w %q", ErrMissingKey, "profileId")
	errMissingConfigurationID = fmt.Errorf("%w %q", ErrMissingKey, "configurationId")
)

// maxDepth bounds the nesting of arrays and objects, as in encoding/json, so that a
// hostile record cannot exhaust the stack.
const maxDepth = 10000

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// A SyntaxError describes malformed JSON: what was wrong, and where.
type SyntaxError struct {
	// Offset is the byte offset in the decoded input at which the problem was found.
	Offset int
	// Reason says what was wrong.
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at offset %d", e.Reason, e.Offset)
}

// An AssessmentDecoder decodes baseline assessment records into the reduced
// Assessment without reflection and, once warmed up, without allocation.
//
// Only deviceId, profileId, configurationId, rbacGroupName, osPlatform, isApplicable
// and isCompliant are kept. Keys are matched case-insensitively, as encoding/json
// does, so DeviceId, deviceId and OSPlatform all match. Every other key is skipped,
// whatever its value, after checking the value's structure: brackets, literals and
// numbers. A skipped string is found by its closing quote alone, with escapes and
// characters unchecked, so a record that encoding/json rejects only for those is
// still counted; on valid JSON both always agree.
//
// The zero value is ready to use. A decoder is not safe for concurrent use.
type AssessmentDecoder struct {
	// scratch holds the unescaped form of strings that contain escapes or invalid
	// UTF-8. It is reused from one record to the next.
	scratch []byte

	// leads are what led to each member's value in the last record: separator,
	// key and colon, byte for byte. The records of one export repeat the same
	// keys in the same order, so the bytes at the same place in the next record
	// are first compared with them, which spares scanning and looking up the key.
	leads []memberLead
}

// memberLead is what leads to a member's value in the input, from the '{' or the
// ',' (spaces before it included) through the colon, and the field its key names.
type memberLead struct {
	raw   []byte
	field field
}

// Decode decodes one JSON object (a line of an export file, or an element of an API
// page) into a, replacing all of a's fields.
//
// A leading UTF-8 BOM and surrounding whitespace are tolerated. Strings may also be
// sent as numbers (their literal text is kept) or null (a nil slice); booleans may be
// sent as "true" or "false" strings, and null or absent booleans are false. For
// duplicate keys the last one wins. Escapes are decoded and invalid UTF-8 is replaced
// with U+FFFD, exactly as encoding/json does.
//
// The slices in a alias data or the decoder's scratch buffer: they are valid until the
// next call to Decode, and data must not change meanwhile. Malformed input gives a
// *SyntaxError. A record without deviceId, profileId or configurationId gives an
// error wrapping ErrMissingKey, with the keys it did have in a.
func (d *AssessmentDecoder) Decode(data []byte, a *Assessment) error {
	start := 0
	if bytes.HasPrefix(data, utf8BOM) {
		start = len(utf8BOM)
	}

	end, err := d.decodeRecord(data, skipSpace(data, start), a)
	if errors.Is(err, errUnexpectedEnd) {
		return endOfInput(len(data))
	}
	if err != nil {
		return err
	}

	if end = skipSpace(data, end); end < len(data) {
		return invalidChar(data, end, "after the record")
	}

	return checkRequiredKeys(a)
}

// decodeRecord decodes the object starting at data[i] into a and returns the index
// just after it. It does not check the required keys.
func (d *AssessmentDecoder) decodeRecord(data []byte, i int, a *Assessment) (int, error) {
	*a = Assessment{}
	d.scratch = d.scratch[:0]

	if i >= len(data) {
		return 0, errUnexpectedEnd
	}
	if data[i] != '{' {
		return 0, invalidChar(data, i, "looking for the start of a record object")
	}

	return d.decodeMembers(data, i, a)
}

// decodeMembers walks the members of the object whose '{' is at data[i].
func (d *AssessmentDecoder) decodeMembers(data []byte, i int, a *Assessment) (int, error) {
	for member := 0; ; member++ {
		f, next, err := d.nextMember(data, i, member)
		if err != nil || f == fieldEnd {
			return next, err
		}

		if i, err = d.decodeMember(data, skipSpace(data, next), f, a); err != nil {
			return 0, err
		}
	}
}

// nextMember reads what leads to the value of the member-th member: the '{' or
// the ',' at data[i] (after spaces), the key and the colon. It returns the field
// the key names and the index after the colon, or fieldEnd and the index after
// the object when it ends there.
func (d *AssessmentDecoder) nextMember(data []byte, i, member int) (field, int, error) {
	if member < len(d.leads) {
		if lead := &d.leads[member]; bytes.HasPrefix(data[i:], lead.raw) {
			return lead.field, i + len(lead.raw), nil
		}
	}

	start := i
	i, end, err := skipSeparator(data, i, member)
	if err != nil || end {
		return fieldEnd, i, err
	}

	f, next, err := d.readKey(data, i)
	if err != nil {
		return fieldOther, 0, err
	}

	if next, err = skipColon(data, next); err != nil {
		return fieldOther, 0, err
	}

	d.rememberLead(member, data[start:next], f)

	return f, next, nil
}

// skipSeparator skips the '{' that opens an object (member 0) or the ',' between
// two members, and the spaces after it. end reports that the object ends there;
// i is then the index after its '}'.
func skipSeparator(data []byte, i, member int) (next int, end bool, err error) {
	if member > 0 {
		if i = skipSpace(data, i); i >= len(data) {
			return 0, false, errUnexpectedEnd
		}

		switch data[i] {
		case ',':
		case '}':
			return i + 1, true, nil
		default:
			return 0, false, invalidChar(data, i, "after an object member")
		}
	}

	i = skipSpace(data, i+1)
	if member == 0 && i < len(data) && data[i] == '}' {
		return i + 1, true, nil
	}

	return i, false, nil
}

// maxKnownLeads bounds the member leads remembered from the last record: a
// record has about twenty members, a hostile one could have millions.
const maxKnownLeads = 64

// rememberLead notes raw as what leads to the value of the member-th member,
// reusing the memory of the one it replaces, so that records of a few
// alternating shapes do not allocate.
func (d *AssessmentDecoder) rememberLead(member int, raw []byte, f field) {
	switch {
	case member < len(d.leads):
		lead := &d.leads[member]
		lead.raw, lead.field = append(lead.raw[:0], raw...), f
	case member == len(d.leads) && member < maxKnownLeads:
		d.leads = append(d.leads, memberLead{raw: bytes.Clone(raw), field: f})
	}
}

// decodeMember decodes the value at data[i] into the field of a that f names, or
// skips it.
func (d *AssessmentDecoder) decodeMember(data []byte, i int, f field, a *Assessment) (int, error) {
	var err error

	switch f {
	case fieldDeviceID:
		a.DeviceID, i, err = d.readText(data, i, f)
	case fieldProfileID:
		a.ProfileID, i, err = d.readText(data, i, f)
	case fieldConfigurationID:
		a.ConfigurationID, i, err = d.readText(data, i, f)
	case fieldRbacGroupName:
		a.RbacGroupName, i, err = d.readText(data, i, f)
	case fieldOSPlatform:
		a.OSPlatform, i, err = d.readText(data, i, f)
	case fieldIsApplicable:
		a.IsApplicable, i, err = d.readFlag(data, i, f)
	case fieldIsCompliant:
		a.IsCompliant, i, err = d.readFlag(data, i, f)
	default:
		i, err = skipValue(data, i, 1)
	}

	return i, err
}

// readKey reads the object key at data[i] and returns the field it names.
func (d *AssessmentDecoder) readKey(data []byte, i int) (field, int, error) {
	if i >= len(data) {
		return fieldOther, 0, errUnexpectedEnd
	}
	if data[i] != '"' {
		return fieldOther, 0, invalidChar(data, i, "looking for the start of an object key")
	}

	end, flags, err := scanString(data, i)
	if err != nil {
		return fieldOther, 0, err
	}

	key := data[i+1 : end-1]
	if flags == 0 {
		return lookupField(key), end, nil
	}

	// Rare: escaped or non-ASCII keys. Unescape into scratch, match with Unicode
	// folding as encoding/json does, and give the scratch space back.
	mark := len(d.scratch)
	d.scratch = appendUnescaped(d.scratch, key)
	f := lookupFieldFold(d.scratch[mark:])
	d.scratch = d.scratch[:mark]

	return f, end, nil
}

// readText reads a kept string field: a string, a number (its literal text) or null.
// An empty string gives nil, like null.
func (d *AssessmentDecoder) readText(data []byte, i int, f field) ([]byte, int, error) {
	if i >= len(data) {
		return nil, 0, errUnexpectedEnd
	}

	switch c := data[i]; {
	case c == '"':
		return d.readString(data, i)
	case c == 'n':
		end, err := expectLiteral(data, i, "null")
		return nil, end, err
	case isJSONNumberStart(c):
		end, err := scanNumber(data, i)
		if err != nil {
			return nil, 0, err
		}
		return data[i:end:end], end, nil
	default:
		return nil, 0, &SyntaxError{Offset: i, Reason: fmt.Sprintf("%q: expected a string, number or null, found %s", f, quoteByte(c))}
	}
}

// readFlag reads a kept boolean field: true, false, null (false), or one of the
// strings "true" and "false" in any ASCII case.
func (d *AssessmentDecoder) readFlag(data []byte, i int, f field) (bool, int, error) {
	if i >= len(data) {
		return false, 0, errUnexpectedEnd
	}

	switch data[i] {
	case 't':
		end, err := expectLiteral(data, i, "true")
		return true, end, err
	case 'f':
		end, err := expectLiteral(data, i, "false")
		return false, end, err
	case 'n':
		end, err := expectLiteral(data, i, "null")
		return false, end, err
	case '"':
		return d.readFlagString(data, i, f)
	default:
		return false, 0, &SyntaxError{Offset: i, Reason: fmt.Sprintf("%q: expected true, false or null, found %s", f, quoteByte(data[i]))}
	}
}

func (d *AssessmentDecoder) readFlagString(data []byte, i int, f field) (bool, int, error) {
	mark := len(d.scratch)
	defer func() { d.scratch = d.scratch[:mark] }()

	text, end, err := d.readString(data, i)
	if err != nil {
		return false, 0, err
	}

	v, ok := parseBoolText(text)
	if !ok {
		return false, 0, &SyntaxError{Offset: i, Reason: fmt.Sprintf("%q: expected \"true\" or \"false\", found %q", f, truncateJSON(text))}
	}

	return v, end, nil
}

// readString reads the string at data[i] and returns its decoded contents, nil when
// empty. Contents without escapes or invalid UTF-8 alias data; the others are
// decoded into the scratch buffer. Either way the slice's capacity ends with it, so
// appending to it can never overwrite a neighbour.
func (d *AssessmentDecoder) readString(data []byte, i int) ([]byte, int, error) {
	end, flags, err := scanString(data, i)
	if err != nil {
		return nil, 0, err
	}

	s := data[i+1 : end-1 : end-1]
	if flags&(stringEscaped|stringInvalidUTF8) != 0 {
		mark := len(d.scratch)
		d.scratch = appendUnescaped(d.scratch, s)
		s = d.scratch[mark:len(d.scratch):len(d.scratch)]
	}

	if len(s) == 0 {
		return nil, end, nil
	}

	return s, end, nil
}

// checkRequiredKeys returns an error wrapping ErrMissingKey when a cannot be counted.
func checkRequiredKeys(a *Assessment) error {
	switch {
	case len(a.DeviceID) == 0:
		return errMissingDeviceID
	case len(a.ProfileID) == 0:
		return errMissingProfileID
	case len(a.ConfigurationID) == 0:
		return errMissingConfigurationID
	}

	return nil
}

// A field is a key the decoder keeps.
type field uint8

const (
	fieldOther field = iota
	fieldDeviceID
	fieldProfileID
	fieldConfigurationID
	fieldRbacGroupName
	fieldOSPlatform
	fieldIsApplicable
	fieldIsCompliant
	// fieldEnd is no key: it marks the end of an object.
	fieldEnd
)

// fieldKeys are the kept keys in lower case, indexed by field.
var fieldKeys = [...]string{
	fieldOther:           "",
	fieldDeviceID:        "deviceid",
	fieldProfileID:       "profileid",
	fieldConfigurationID: "configurationid",
	fieldRbacGroupName:   "rbacgroupname",
	fieldOSPlatform:      "osplatform",
	fieldIsApplicable:    "isapplicable",
	fieldIsCompliant:     "iscompliant",
}

// fieldNames are the kept keys as the JSON API spells them, for error messages.
var fieldNames = [...]string{
	fieldOther:           "",
	fieldDeviceID:        "deviceId",
	fieldProfileID:       "profileId",
	fieldConfigurationID: "configurationId",
	fieldRbacGroupName:   "rbacGroupName",
	fieldOSPlatform:      "osPlatform",
	fieldIsApplicable:    "isApplicable",
	fieldIsCompliant:     "isCompliant",
}

func (f field) String() string {
	return fieldNames[f]
}

// lookupField matches an ASCII key, ignoring ASCII case. The kept keys all have
// different lengths, so the length picks the one candidate.
func lookupField(key []byte) field {
	var f field

	switch len(key) {
	case 8:
		f = fieldDeviceID
	case 9:
		f = fieldProfileID
	case 10:
		f = fieldOSPlatform
	case 11:
		f = fieldIsCompliant
	case 12:
		f = fieldIsApplicable
	case 13:
		f = fieldRbacGroupName
	case 15:
		f = fieldConfigurationID
	default:
		return fieldOther
	}

	if !equalFoldASCII(key, fieldKeys[f]) {
		return fieldOther
	}

	return f
}

// lookupFieldFold matches any key with Unicode case folding (bytes.EqualFold), the
// rule encoding/json applies: "oſPlatform" (long s) matches osPlatform there too.
func lookupFieldFold(key []byte) field {
	for f := fieldDeviceID; f <= fieldIsCompliant; f++ {
		if bytes.EqualFold(key, []byte(fieldKeys[f])) {
			return f
		}
	}

	return fieldOther
}

// JSON scanning primitives. Each takes the input and the index of the first byte
// of a token, and returns the index just after the token. Running out of input is
// always reported as errUnexpectedEnd, so that the page decoder can tell "needs
// more input" apart from malformed input and read on.

// Flags reported by scanString about a string's contents.
const (
	stringEscaped uint8 = 1 << iota
	stringNonASCII
	stringInvalidUTF8
)

// plainStringByte marks the bytes that stand for themselves inside a string: ASCII
// without the quote, the backslash and the control characters.
var plainStringByte = func() (table [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		table[c] = c != '"' && c != '\\'
	}
	return table
}()

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}

	return i
}

func skipColon(data []byte, i int) (int, error) {
	i = skipSpace(data, i)
	if i >= len(data) {
		return 0, errUnexpectedEnd
	}
	if data[i] != ':' {
		return 0, invalidChar(data, i, "after an object key")
	}

	return skipSpace(data, i+1), nil
}

// skipValue checks and skips any JSON value. depth is the nesting depth of the
// container holding it.
func skipValue(data []byte, i, depth int) (int, error) {
	if i >= len(data) {
		return 0, errUnexpectedEnd
	}

	switch c := data[i]; {
	case c == '"':
		return skipString(data, i)
	case c == '{':
		return skipObject(data, i, depth+1)
	case c == '[':
		return skipArray(data, i, depth+1)
	case c == 't':
		return expectLiteral(data, i, "true")
	case c == 'f':
		return expectLiteral(data, i, "false")
	case c == 'n':
		return expectLiteral(data, i, "null")
	case isJSONNumberStart(c):
		return scanNumber(data, i)
	default:
		return 0, invalidChar(data, i, "looking for the start of a value")
	}
}

func skipObject(data []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{Offset: i, Reason: "nesting deeper than 10000 levels"}
	}

	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}

	for {
		if i >= len(data) {
			return 0, errUnexpectedEnd
		}
		if data[i] != '"' {
			return 0, invalidChar(data, i, "looking for the start of an object key")
		}

		end, _, err := scanString(data, i)
		if err != nil {
			return 0, err
		}

		if i, err = skipColon(data, end); err != nil {
			return 0, err
		}

		if i, err = skipValue(data, i, depth); err != nil {
			return 0, err
		}

		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, errUnexpectedEnd
		}

		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return i + 1, nil
		default:
			return 0, invalidChar(data, i, "after an object member")
		}
	}
}

func skipArray(data []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return 0, &SyntaxError{Offset: i, Reason: "nesting deeper than 10000 levels"}
	}

	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}

	for {
		var err error
		if i, err = skipValue(data, i, depth); err != nil {
			return 0, err
		}

		i = skipSpace(data, i)
		if i >= len(data) {
			return 0, errUnexpectedEnd
		}

		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return i + 1, nil
		default:
			return 0, invalidChar(data, i, "after an array element")
		}
	}
}

// scanString checks the string whose opening quote is at data[i] and returns the
// index after its closing quote, with flags saying whether its contents hold
// escapes, non-ASCII bytes or invalid UTF-8.
func scanString(data []byte, i int) (end int, flags uint8, err error) {
	j := i + 1

	for {
		if j = skipPlain(data, j); j >= len(data) {
			return 0, 0, errUnexpectedEnd
		}

		switch c := data[j]; {
		case c == '"':
			return j + 1, flags, nil
		case c == '\\':
			n, err := escapeLength(data, j)
			if err != nil {
				return 0, 0, err
			}
			j += n
			flags |= stringEscaped
		case c < 0x20:
			return 0, 0, invalidChar(data, j, "in a string (control characters must be escaped)")
		default:
			r, size := utf8.DecodeRune(data[j:])
			if r == utf8.RuneError && size == 1 {
				flags |= stringInvalidUTF8
			}
			j += size
			flags |= stringNonASCII
		}
	}
}

// skipPlain returns the index of the first byte at or after j that does not stand
// for itself in a string (see plainStringByte), or len(data). It looks at eight
// bytes at a time: strings are most of a record.
func skipPlain(data []byte, j int) int {
	for ; j+8 <= len(data); j += 8 {
		if special := specialBytes(binary.LittleEndian.Uint64(data[j:])); special != 0 {
			return j + bits.TrailingZeros64(special)/8
		}
	}

	for j < len(data) && plainStringByte[data[j]] {
		j++
	}

	return j
}

// specialBytes sets the high bit of the lowest byte of x that is a quote, a
// backslash, a control character or not ASCII, and is zero when there is none.
// Each term is the "has a zero byte" trick of Hacker's Delight: subtracting 1 (or
// 0x20) borrows into a byte's high bit only from a byte that matches, or from
// a matching byte below it, so the lowest flagged byte is exact. Higher flags may
// be false and are ignored.
func specialBytes(x uint64) uint64 {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)

	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')

	return (x | (x - ones*0x20) | (quote - ones) | (backslash - ones)) & highs
}

// skipString returns the index after the string whose opening quote is at
// data[i]: after the first quote not escaped by a backslash. It does not check
// what lies between, as scanString does: bytes.IndexByte jumps over long values
// and their escapes at once, which makes decoding a record about a sixth faster.
func skipString(data []byte, i int) (int, error) {
	j := i + 1
	for {
		q := bytes.IndexByte(data[j:], '"')
		if q < 0 {
			return 0, errUnexpectedEnd
		}
		j += q
		backslashes := 0
		for k := j - 1; k > i && data[k] == '\\'; k-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return j + 1, nil
		}
		j++
	}
}

// escapeLength checks the escape sequence starting with the backslash at data[j]
// and returns its length.
func escapeLength(data []byte, j int) (int, error) {
	if j+1 >= len(data) {
		return 0, errUnexpectedEnd
	}

	switch data[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		for k := j + 2; k < j+6; k++ {
			if k >= len(data) {
				return 0, errUnexpectedEnd
			}
			if hexValue(data[k]) < 0 {
				return 0, invalidChar(data, k, "in a \\u escape")
			}
		}
		return 6, nil
	default:
		return 0, invalidChar(data, j+1, "in a string escape")
	}
}

// appendUnescaped appends the decoded form of s, the contents of a string already
// checked by scanString. It follows encoding/json: invalid UTF-8 bytes and unpaired
// surrogates each become U+FFFD.
func appendUnescaped(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		run := i
		for run < len(s) && s[run] != '\\' && s[run] < utf8.RuneSelf {
			run++
		}
		dst = append(dst, s[i:run]...)
		if i = run; i == len(s) {
			break
		}

		if s[i] == '\\' {
			var n int
			dst, n = appendEscape(dst, s[i:])
			i += n
			continue
		}

		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}

	return dst
}

// appendEscape appends the decoding of the checked escape sequence at the start of
// s and returns how many bytes of s it used.
func appendEscape(dst, s []byte) ([]byte, int) {
	switch s[1] {
	case 'b':
		return append(dst, '\b'), 2
	case 'f':
		return append(dst, '\f'), 2
	case 'n':
		return append(dst, '\n'), 2
	case 'r':
		return append(dst, '\r'), 2
	case 't':
		return append(dst, '\t'), 2
	case 'u':
		return appendUnicodeEscape(dst, s)
	default: // '"', '\\' and '/' stand for themselves.
		return append(dst, s[1]), 2
	}
}

// appendUnicodeEscape decodes \uXXXX, joining a surrogate pair written as two
// escapes into one rune.
func appendUnicodeEscape(dst, s []byte) ([]byte, int) {
	r := hex4(s[2:6])
	if !utf16.IsSurrogate(r) {
		return utf8.AppendRune(dst, r), 6
	}

	if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
		if pair := utf16.DecodeRune(r, hex4(s[8:12])); pair != unicode.ReplacementChar {
			return utf8.AppendRune(dst, pair), 12
		}
	}

	return utf8.AppendRune(dst, unicode.ReplacementChar), 6
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r = r<<4 | rune(hexValue(c))
	}

	return r
}

func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}

	return -1
}

// scanNumber checks the number starting at data[i] against the JSON grammar.
func scanNumber(data []byte, i int) (int, error) {
	j := i
	if data[j] == '-' {
		j++
	}

	if j >= len(data) {
		return 0, errUnexpectedEnd
	}
	switch c := data[j]; {
	case c == '0':
		j++
	case '1' <= c && c <= '9':
		j = skipDigits(data, j+1)
	default:
		return 0, invalidChar(data, j, "in a number")
	}

	var err error
	if j < len(data) && data[j] == '.' {
		if j, err = requireDigits(data, j+1); err != nil {
			return 0, err
		}
	}

	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		if j, err = requireDigits(data, j); err != nil {
			return 0, err
		}
	}

	return j, nil
}

func requireDigits(data []byte, j int) (int, error) {
	if j >= len(data) {
		return 0, errUnexpectedEnd
	}
	if data[j] < '0' || data[j] > '9' {
		return 0, invalidChar(data, j, "in a number")
	}

	return skipDigits(data, j+1), nil
}

func skipDigits(data []byte, j int) int {
	for j < len(data) && '0' <= data[j] && data[j] <= '9' {
		j++
	}

	return j
}

// expectLiteral checks that data[i:] starts with lit (true, false or null).
func expectLiteral(data []byte, i int, lit string) (int, error) {
	if end := i + len(lit); end <= len(data) && string(data[i:end]) == lit {
		return end, nil
	}

	for k := range len(lit) {
		if i+k >= len(data) {
			return 0, errUnexpectedEnd
		}
		if data[i+k] != lit[k] {
			return 0, invalidChar(data, i+k, "in literal "+lit)
		}
	}

	return i + len(lit), nil // unreachable: the fast path matched
}

// errUnexpectedEnd is returned by the scanning primitives when the input stops
// inside a value. The page decoder meets it at every refill of its window, so it is
// a sentinel that costs no allocation; callers outside the primitives turn it into
// a *SyntaxError with endOfInput.
var errUnexpectedEnd = errors.New("unexpected end of input")

// endOfInput reports input that stops inside a value at offset.
func endOfInput(offset int) error {
	return &SyntaxError{Offset: offset, Reason: "unexpected end of input"}
}

func invalidChar(data []byte, i int, context string) error {
	return &SyntaxError{Offset: i, Reason: "invalid character " + quoteByte(data[i]) + " " + context}
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}

	return fmt.Sprintf("byte 0x%02x", c)
}
