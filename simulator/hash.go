package simulator

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Hash streams keep the draws for different purposes independent.
const (
	streamDevice uint64 = iota + 1
	streamRecord
	streamConfig
	streamCCE
	streamShuffle
	streamIDs
	streamContainer
	streamSAS
	streamToken
	streamRisk
)

// golden is the increment of splitmix64.
const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finalizer: a fast, well-spread 64-bit hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// mix hashes two words under key.
func mix(key, a, b uint64) uint64 {
	return mix64(key ^ mix64(a*golden+b))
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

// hashString is FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// hex16 is x as 16 lower-case hex digits.
func hex16(x uint64) string {
	s := strconv.FormatUint(x, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

// pad5 is n with at least five digits, as in part-00042.
func pad5(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", max(5-len(s), 0)) + s
}

// newGUID draws a version-4 style GUID.
func newGUID(r *rand.Rand) string {
	return guid(r.Uint64(), r.Uint64())
}

// guid formats 128 bits as a version-4 style GUID.
func guid(a, b uint64) string {
	s := hex16(a) + hex16(b&^(0xf<<60)|0x8<<60)
	return s[:8] + "-" + s[8:12] + "-4" + s[13:16] + "-" + s[16:20] + "-" + s[20:]
}
