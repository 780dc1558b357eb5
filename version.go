package main

import (
	_ "embed"
	"strings"

	"github.com/prometheus/common/version"
)

// versionFile is the release this source tree belongs to.
//
//go:embed VERSION
var versionFile string

// A release build sets version.Version through -ldflags; a plain go build or
// go run reports the VERSION file instead of nothing.
func init() {
	if version.Version == "" {
		version.Version = strings.TrimSpace(versionFile)
	}
}
