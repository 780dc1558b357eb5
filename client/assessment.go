package client

import "time"

// Assessment is one (device, profile, configuration) row of the security-baseline
// export, reduced to the fields the exporter aggregates.
//
// The byte slices alias the decoder's buffer: they are valid only until the
// PartSink.Add call that received them returns, and must be copied to be kept.
type Assessment struct {
	DeviceID        []byte
	ProfileID       []byte
	ConfigurationID []byte
	RbacGroupName   []byte
	OSPlatform      []byte

	// IsApplicable is true only when the record says so; an absent key is false.
	IsApplicable bool
	// IsCompliant is true only when the record says so; an absent key is false.
	IsCompliant bool
}

// A Sink receives the records of a snapshot, one part at a time. A part is one
// export file, or one complete run through the paginated JSON API.
//
// Parts may be read concurrently, each by its own goroutine. A part whose reading
// failed is dropped, never committed, so its records never reach the totals.
type Sink interface {
	// BeginPart returns a PartSink for a new part.
	BeginPart() PartSink
	// CommitPart adds a part that was read to its end to the totals.
	CommitPart(PartSink)
}

// A PartSink collects the records of one part. It is used by one goroutine.
type PartSink interface {
	Add(*Assessment)
}

// ExportFiles is the answer of the file-export endpoint: where the snapshot's parts
// can be downloaded, and when the snapshot was generated.
type ExportFiles struct {
	// URLs are SAS URLs. Their query strings are secrets: never log them unredacted.
	URLs          []string
	GeneratedTime time.Time
}

// Profile is a security-baseline profile from /api/baselineProfiles.
type Profile struct {
	ID                     string
	Name                   string
	Description            string
	Benchmark              string
	Version                string
	OperatingSystem        string
	OperatingSystemVersion string
	Status                 bool
	ComplianceLevel        string
	SettingsNumber         int
	CreatedBy              string
	LastUpdatedBy          string
	// CreatedOn and LastUpdated are zero when the service sent no date, null, or
	// its zero date 0001-01-01T00:00:00Z.
	CreatedOn     time.Time
	LastUpdated   time.Time
	PassedDevices int
	TotalDevices  int
}

// Configuration is a benchmark item from /api/baselineConfigurations.
type Configuration struct {
	ID               string
	UniqueID         string
	BenchmarkName    string
	BenchmarkVersion string
	Name             string
	Category         string
	ComplianceLevels []string
	CCE              string
	IsCustom         bool
}
