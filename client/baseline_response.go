package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// BaselineAssessment is one record of /api/machines/BaselineComplianceAssessmentByMachine
// or of a line of the baseline export files, with every field the documentation and
// live-derived schemas name (mde-api.md 5.1).
//
// encoding/json matches keys case-insensitively, so the camelCase of the JSON API and
// the PascalCase of the files (including "OSPlatform") both decode into it. It is the
// reference for the fast AssessmentDecoder, which keeps only the fields the exporter
// aggregates.
type BaselineAssessment struct {
	ID              FlexString `json:"id"`
	ConfigurationID FlexString `json:"configurationId"`
	ProfileID       FlexString `json:"profileId"`
	DeviceID        FlexString `json:"deviceId"`
	// DeviceName is kept as sent: it may be null, empty or space-padded.
	DeviceName FlexString `json:"deviceName"`
	OSPlatform FlexString `json:"osPlatform"`
	OSVersion  FlexString `json:"osVersion"`
	// RbacGroupID is a number in the examples; the documentation text allows the
	// strings "Unassigned" and "None".
	RbacGroupID   FlexString `json:"rbacGroupId"`
	RbacGroupName FlexString `json:"rbacGroupName"`
	IsApplicable  FlexBool   `json:"isApplicable"`
	// IsCompliant means nothing when IsApplicable is false.
	IsCompliant FlexBool `json:"isCompliant"`
	// DataCollectionTimeOffset is absent when no data was collected (zero Time).
	DataCollectionTimeOffset        Time       `json:"dataCollectionTimeOffset"`
	ComplianceCalculationTimeOffset Time       `json:"complianceCalculationTimeOffset"`
	RecommendedValue                StringList `json:"recommendedValue"`
	CurrentValue                    StringList `json:"currentValue"`
	Source                          StringList `json:"source"`
	// IsExempt is undocumented but present in live-derived schemas.
	IsExempt FlexBool `json:"isExempt"`
}

// Assessment returns the reduced record the exporter aggregates. Empty strings give
// nil slices, as in AssessmentDecoder.
func (b BaselineAssessment) Assessment() Assessment {
	return Assessment{
		DeviceID:        bytesOrNil(string(b.DeviceID)),
		ProfileID:       bytesOrNil(string(b.ProfileID)),
		ConfigurationID: bytesOrNil(string(b.ConfigurationID)),
		RbacGroupName:   bytesOrNil(string(b.RbacGroupName)),
		OSPlatform:      bytesOrNil(string(b.OSPlatform)),
		IsApplicable:    bool(b.IsApplicable),
		IsCompliant:     bool(b.IsCompliant),
	}
}

// DecodeAssessmentReference decodes one record with encoding/json. It accepts what
// AssessmentDecoder accepts (a leading UTF-8 BOM, case-insensitive keys, flexible
// types) and decodes every field. A record whose deviceId, profileId or
// configurationId is absent, null or empty is returned with an error wrapping
// ErrMissingKey.
func DecodeAssessmentReference(data []byte) (BaselineAssessment, error) {
	data = bytes.TrimPrefix(data, utf8BOM)

	var b BaselineAssessment
	if trimmed := bytes.TrimLeft(data, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' {
		return b, errors.New("record is not a JSON object")
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return b, fmt.Errorf("decoding record: %w", err)
	}

	a := b.Assessment()

	return b, checkRequiredKeys(&a)
}

// profileJSON is an element of /api/baselineProfiles (mde-api.md 5.3). The
// documentation table and its example disagree on the timestamp names; both are
// accepted.
type profileJSON struct {
	ID                     FlexString `json:"id"`
	Name                   FlexString `json:"name"`
	Description            FlexString `json:"description"`
	Benchmark              FlexString `json:"benchmark"`
	Version                FlexString `json:"version"`
	OperatingSystem        FlexString `json:"operatingSystem"`
	OperatingSystemVersion FlexString `json:"operatingSystemVersion"`
	Status                 FlexBool   `json:"status"`
	ComplianceLevel        FlexString `json:"complianceLevel"`
	SettingsNumber         FlexInt    `json:"settingsNumber"`
	CreatedBy              FlexString `json:"createdBy"`
	// LastUpdatedBy is typed DateTime in the table but holds a user or null.
	LastUpdatedBy          FlexString `json:"lastUpdatedBy"`
	CreatedOnTimeOffset    Time       `json:"createdOnTimeOffset"`
	CreatedOnTimestampUTC  Time       `json:"createdOnTimestampUTC"`
	LastUpdateTimeOffset   Time       `json:"lastUpdateTimeOffset"`
	LastUpdateTimestampUTC Time       `json:"lastUpdateTimestampUTC"`
	PassedDevices          FlexInt    `json:"passedDevices"`
	TotalDevices           FlexInt    `json:"totalDevices"`
}

func (p profileJSON) profile() Profile {
	return Profile{
		ID:                     string(p.ID),
		Name:                   string(p.Name),
		Description:            string(p.Description),
		Benchmark:              string(p.Benchmark),
		Version:                string(p.Version),
		OperatingSystem:        string(p.OperatingSystem),
		OperatingSystemVersion: string(p.OperatingSystemVersion),
		Status:                 bool(p.Status),
		ComplianceLevel:        string(p.ComplianceLevel),
		SettingsNumber:         int(p.SettingsNumber),
		CreatedBy:              string(p.CreatedBy),
		LastUpdatedBy:          string(p.LastUpdatedBy),
		CreatedOn:              firstKnownTime(p.CreatedOnTimeOffset, p.CreatedOnTimestampUTC).Time,
		LastUpdated:            firstKnownTime(p.LastUpdateTimeOffset, p.LastUpdateTimestampUTC).Time,
		PassedDevices:          int(p.PassedDevices),
		TotalDevices:           int(p.TotalDevices),
	}
}

// configurationJSON is an element of /api/baselineConfigurations (mde-api.md 5.4).
type configurationJSON struct {
	ID               FlexString `json:"id"`
	UniqueID         FlexString `json:"uniqueId"`
	BenchmarkName    FlexString `json:"benchmarkName"`
	BenchmarkVersion FlexString `json:"benchmarkVersion"`
	Name             FlexString `json:"name"`
	Description      FlexString `json:"description"`
	Category         FlexString `json:"category"`
	// ComplianceLevels is an array in the example and a string in the table.
	ComplianceLevels StringList `json:"complianceLevels"`
	// CCE is a string ("CCE-35116-3") in the example and an Int in the table.
	CCE              FlexString `json:"cce"`
	Rationale        FlexString `json:"rationale"`
	Remediation      FlexString `json:"remediation"`
	RecommendedValue StringList `json:"recommendedValue"`
	Source           StringList `json:"source"`
	IsCustom         FlexBool   `json:"isCustom"`
}

func (c configurationJSON) configuration() Configuration {
	return Configuration{
		ID:               string(c.ID),
		UniqueID:         string(c.UniqueID),
		BenchmarkName:    string(c.BenchmarkName),
		BenchmarkVersion: string(c.BenchmarkVersion),
		Name:             string(c.Name),
		Category:         string(c.Category),
		ComplianceLevels: c.ComplianceLevels,
		CCE:              string(c.CCE),
		IsCustom:         bool(c.IsCustom),
	}
}

// odataPage is the envelope of every paginated answer.
type odataPage[T any] struct {
	Context  FlexString `json:"@odata.context"`
	Value    []T        `json:"value"`
	NextLink FlexString `json:"@odata.nextLink"`
}

// decodeProfilesPage decodes one page of /api/baselineProfiles. nextLink is "" when
// the key is absent or null.
func decodeProfilesPage(r io.Reader) (profiles []Profile, nextLink string, err error) {
	page, err := decodeODataPage[profileJSON](r)
	if err != nil {
		return nil, "", fmt.Errorf("decoding baseline profiles: %w", err)
	}

	profiles = make([]Profile, 0, len(page.Value))
	for _, p := range page.Value {
		profiles = append(profiles, p.profile())
	}

	return profiles, string(page.NextLink), nil
}

// decodeConfigurationsPage decodes one page of /api/baselineConfigurations. nextLink
// is "" when the key is absent or null.
func decodeConfigurationsPage(r io.Reader) (configs []Configuration, nextLink string, err error) {
	page, err := decodeODataPage[configurationJSON](r)
	if err != nil {
		return nil, "", fmt.Errorf("decoding baseline configurations: %w", err)
	}

	configs = make([]Configuration, 0, len(page.Value))
	for _, c := range page.Value {
		configs = append(configs, c.configuration())
	}

	return configs, string(page.NextLink), nil
}

// decodeODataPage decodes a whole envelope. Profile and configuration pages are
// small (at most 10,000 elements), so they are decoded in one piece.
func decodeODataPage[T any](r io.Reader) (odataPage[T], error) {
	var page odataPage[T]

	dec := json.NewDecoder(skipBOM(r))
	if err := dec.Decode(&page); err != nil {
		return page, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return page, errors.New("unexpected data after the page")
	}

	return page, nil
}

// skipBOM returns a reader of r without its leading UTF-8 byte order mark, if any.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}

	return br
}

func firstKnownTime(times ...Time) Time {
	for _, t := range times {
		if !t.IsZero() {
			return t
		}
	}

	return Time{}
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}

	return []byte(s)
}
