package client

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// A file of exactly MaxFileBytes is read whole; one byte more fails with reason
// decode, after handing over no more than the limit.
func TestSizeLimitedReader(t *testing.T) {
	const text = "0123456789"

	for _, tt := range []struct {
		limit   int64
		wantErr bool
	}{
		{limit: 10}, {limit: 11}, {limit: 9, wantErr: true}, {limit: 1, wantErr: true},
	} {
		r := &sizeLimitedReader{r: iotest.HalfReader(strings.NewReader(text)), left: tt.limit, limit: tt.limit}
		got, err := io.ReadAll(r)

		switch {
		case tt.wantErr && (!errors.Is(err, errFileTooLarge) || Reason(err) != "decode"):
			t.Errorf("limit %d: err = %v (reason %q), want errFileTooLarge with reason decode", tt.limit, err, Reason(err))
		case tt.wantErr && int64(len(got)) > tt.limit:
			t.Errorf("limit %d: read %d bytes past the limit", tt.limit, len(got))
		case !tt.wantErr && (err != nil || string(got) != text):
			t.Errorf("limit %d: read %q, %v; want the whole text", tt.limit, got, err)
		}
	}
}
