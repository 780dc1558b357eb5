package simulator

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkStartTwoMillionRecords measures generating a tenant of 2,000,000
// records and compressing its export files.
func BenchmarkStartTwoMillionRecords(b *testing.B) {
	opts := Options{Seed: 1, Devices: 20_000, Profiles: 5, ConfigurationsPerProfile: 100}
	for b.Loop() {
		tn, err := Start(opts)
		if err != nil {
			b.Fatal(err)
		}
		if n := tn.Expected().Records; n != 2_000_000 {
			b.Fatalf("tenant has %d records", n)
		}
		tn.Close()
	}
}

// BenchmarkJSONPage measures serving one JSON page of the largest size, 200,000 records.
func BenchmarkJSONPage(b *testing.B) {
	tn, err := Start(Options{Seed: 1, Devices: 2_000, Profiles: 5, ConfigurationsPerProfile: 100})
	if err != nil {
		b.Fatal(err)
	}
	defer tn.Close()
	token := accessToken(b, tn)

	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, tn.APIURL()+byMachine+"?pageSize=200000", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		b.SetBytes(n)
	}
}
