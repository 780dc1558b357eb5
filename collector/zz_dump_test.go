package collector_test

import (
	"fmt"
	"os"
	"testing"
)

func TestZZDump(t *testing.T) {
	dir := os.Getenv("DUMP_DIR")
	if dir == "" {
		t.Skip()
	}
	_, c := benchTenant(t, benchTenantOptions(2_000_000))
	files := downloadExport(t, c)
	os.MkdirAll(dir, 0o755)
	for i, f := range files {
		os.WriteFile(fmt.Sprintf("%s/part-%05d.json.gz", dir, i), f, 0o644)
	}
}
