package simulator

import "time"

// Profile is a security-baseline profile of the tenant, as /api/baselineProfiles
// describes it.
type Profile struct {
	ID                     string
	Name                   string
	Description            string
	Benchmark              string
	Version                string
	OperatingSystem        string
	OperatingSystemVersion string
	// OSPlatform is the osPlatform of the devices the profile applies to.
	OSPlatform      string
	Status          bool
	ComplianceLevel string
	SettingsNumber  int
	CreatedBy       string
	// LastUpdatedBy is "" when the service sends null.
	LastUpdatedBy string
	// CreatedOn and LastUpdated are zero for the profiles served with the zero
	// date 0001-01-01T00:00:00Z.
	CreatedOn     time.Time
	LastUpdated   time.Time
	PassedDevices int
	TotalDevices  int
	// ConfigurationUniqueIDs are the uniqueIds of the configurations the
	// profile assesses.
	ConfigurationUniqueIDs []string
}

// Configuration is a benchmark item, as /api/baselineConfigurations describes it.
// The same ID appears in several benchmarks; UniqueID tells them apart.
type Configuration struct {
	UniqueID         string
	ID               string
	BenchmarkName    string
	BenchmarkVersion string // the profile's version, "-", and an OS slug
	Name             string
	Description      string // HTML
	Category         string
	ComplianceLevels []string
	CCE              string
	Rationale        string // HTML
	Remediation      string // HTML
	Source           []string
	RecommendedValue []string
	IsCustom         bool
}

// Record is one assessment record with every field the service sends.
type Record struct {
	ID              string
	ConfigurationID string
	DeviceID        string
	// DeviceName is as sent, padding included; "" when the service sends null.
	DeviceName    string
	ProfileID     string
	OSPlatform    string
	OSVersion     string
	RbacGroupID   string // the decimal group id, or "Unassigned"
	RbacGroupName string
	IsApplicable  bool
	// IsCompliant is the value sent, false when the key is absent. It means
	// nothing unless IsApplicable.
	IsCompliant bool
	// DataCollectionTime is zero when the key is absent.
	DataCollectionTime        time.Time
	ComplianceCalculationTime time.Time
	// RecommendedValue, CurrentValue and Source are nil when sent as null.
	RecommendedValue []string
	CurrentValue     []string
	Source           []string
	IsExempt         bool
}

// Status is the record's status as the exporter labels it: not_applicable
// unless the record is applicable, then compliant or non_compliant.
func (r Record) Status() string {
	switch {
	case !r.IsApplicable:
		return statusNotApplicable
	case r.IsCompliant:
		return statusCompliant
	}
	return statusNonCompliant
}

// SeriesKey names one mde_baseline_devices series.
type SeriesKey struct {
	ProfileID, ConfigurationID, RbacGroup, OSPlatform, Status string
}

// ProfileSeriesKey names one mde_baseline_profile_devices series.
type ProfileSeriesKey struct {
	ProfileID, RbacGroup, OSPlatform, Status string
}

// Expected are the aggregates a correct exporter shows for a snapshot.
type Expected struct {
	// Records is the number of records in the snapshot.
	Records int
	// Devices counts records per series of mde_baseline_devices.
	Devices map[SeriesKey]int
	// ProfileDevices counts (device, profile) pairs per series of
	// mde_baseline_profile_devices: non_compliant if any applicable record of
	// the profile fails, else compliant if any is applicable, else not_applicable.
	ProfileDevices map[ProfileSeriesKey]int
	// GeneratedTime is the snapshot's generatedTime.
	GeneratedTime time.Time
}

// record returns every field of record r.
func (g *generation) record(r ref) Record {
	f := g.facts(r)
	d := &g.devices[r.device]
	gr := &g.groups[d.group]
	c := &g.configurations[r.config]
	frag := &g.configFrags[r.config]

	rec := Record{
		ID:                        d.id + "_" + g.profiles[r.profile].ID + "_" + c.ID,
		ConfigurationID:           c.ID,
		DeviceID:                  d.id,
		DeviceName:                d.name,
		ProfileID:                 g.profiles[r.profile].ID,
		OSPlatform:                platforms[d.platform].name,
		OSVersion:                 d.osVersion,
		RbacGroupID:               gr.id,
		RbacGroupName:             gr.name,
		IsApplicable:              f.applicable,
		IsCompliant:               f.compliant,
		DataCollectionTime:        d.collected.Truncate(time.Millisecond),
		ComplianceCalculationTime: d.calculated.Truncate(time.Millisecond),
		RecommendedValue:          c.RecommendedValue,
		CurrentValue:              []string{},
		Source:                    c.Source,
		IsExempt:                  f.exempt,
	}
	switch {
	case f.applicable && f.compliant:
		rec.CurrentValue = frag.goodValues
	case f.applicable:
		rec.CurrentValue = frag.badValues
	}

	switch f.shape {
	case recordNullSource:
		rec.Source = nil
	case recordNullCurrentValue:
		rec.CurrentValue = nil
	case recordNoCollectionTime:
		rec.DataCollectionTime = time.Time{}
	case recordCompliantNotApplicable:
		rec.IsCompliant = true
	}
	return rec
}
