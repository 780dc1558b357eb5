package collector

import (
	"crypto/sha1"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

func TestZZHex(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := "0123456789abcdefABCDEFgG/:@`\x80\xff "
	for n := 0; n < 2_000_000; n++ {
		b := make([]byte, 40)
		for i := range b {
			if r.IntN(50) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = "0123456789abcdefABCDEF"[r.IntN(22)]
			}
		}
		var want [20]byte
		if _, err := hex.Decode(want[:], b); err != nil {
			want = sha1.Sum(b)
		}
		if got := deviceBytes(b); got != want {
			t.Fatalf("%q: got %x want %x", b, got, want)
		}
	}
	for c := 0; c < 256; c++ {
		b := []byte("0123456789abcdef0123456789abcdef01234567")
		b[13] = byte(c)
		var want [20]byte
		if _, err := hex.Decode(want[:], b); err != nil {
			want = sha1.Sum(b)
		}
		if got := deviceBytes(b); got != want {
			t.Fatalf("%q: got %x want %x", b, got, want)
		}
	}
}
