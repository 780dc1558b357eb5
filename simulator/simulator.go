// Package simulator serves a simulated Microsoft Defender for Endpoint tenant for
// the security-baseline assessment APIs.
//
// A Tenant is three real HTTP listeners, as the real service is three hosts: an
// Entra ID token endpoint, the Defender API (the JSON ByMachine pages, the file
// export URL list, the baseline profiles and configurations) and the Azure Blob
// Storage account that holds the gzip export files. Every wire shape follows
// Microsoft's documentation and the traffic seen in public code, including the
// odd but valid shapes a client must survive.
//
// The data is generated deterministically from a seed, and the tenant knows the
// exact aggregates a correct exporter must show for it (Expected), computed from
// the generator rather than from what was served. Faults can be queued per
// endpoint to test retries, throttling and broken connections.
package simulator

import "time"

// Casing is the spelling of the keys in the export files.
type Casing int

const (
	// PascalCase writes keys as DeviceId, OsPlatform, IsCompliant, as the file
	// exports do.
	PascalCase Casing = iota
	// CamelCase writes keys as deviceId, osPlatform, isCompliant, as the JSON API does.
	CamelCase
)

// Endpoint names, the same strings as the exporter's endpoint label. Faults and
// request counts are keyed by them.
const (
	// EndpointToken is the Entra ID token endpoint.
	EndpointToken = "token"
	// EndpointAssessments is GET /api/machines/BaselineComplianceAssessmentByMachine.
	EndpointAssessments = "baseline_assessments"
	// EndpointExport is GET /api/machines/BaselineComplianceAssessmentExport.
	EndpointExport = "baseline_export"
	// EndpointExportFile is the download of one export file by its SAS URL.
	EndpointExportFile = "export_file"
	// EndpointProfiles is GET /api/baselineProfiles.
	EndpointProfiles = "baseline_profiles"
	// EndpointConfigurations is GET /api/baselineConfigurations.
	EndpointConfigurations = "baseline_configurations"
)

// Credentials the token endpoint accepts unless Options name others.
const (
	DefaultTenantID     = "5f1c8e2a-7d3b-4c6e-9a0f-2b4d6e8f1a3c"
	DefaultClientID     = "0b9e4d2c-3a1f-4e5d-8c7b-6a5f4e3d2c1b"
	DefaultClientSecret = "sim~Q8v2.Kx7_Rm4Tz9-Wp3Ny6Lb1Hd5Jc0Fg"
)

// Options describe a simulated tenant. Zero fields take the defaults listed by
// WithDefaults.
type Options struct {
	// Seed selects the generated data: the same seed gives the same files.
	Seed int64
	// Devices is the number of devices. A negative value means none.
	Devices int
	// Profiles is the number of baseline profiles. Each targets one OS platform
	// and applies to every device of that platform.
	Profiles int
	// ConfigurationsPerProfile is the number of benchmark items each profile assesses.
	ConfigurationsPerProfile int
	// RbacGroups is the number of device groups. A negative value means the
	// organization has none, and its records name the group "None".
	RbacGroups int

	// NonCompliantShare is the share of applicable records that are non-compliant.
	// It is an average: some configurations and some devices fail more often
	// than others (above about 0.2 the busiest of them saturate, and the share
	// comes out a little lower). A negative value means none.
	NonCompliantShare float64
	// NotApplicableShare is the share of records that are not applicable. A
	// negative value means none.
	NotApplicableShare float64
	// OddShare is the share of records, and of devices, given odd but valid
	// shapes: null arrays, absent keys, numbers as strings, null or padded
	// device names, unassigned devices. A negative value means none.
	OddShare float64

	// PartRecords is the largest number of records in one export file.
	PartRecords int
	// EmptyParts adds export URLs whose blob answers 200 with an empty body.
	EmptyParts int
	// FileCasing is the casing of the keys in the export files. The JSON API
	// always uses camelCase.
	FileCasing Casing
	// Shuffle shuffles the records within each part, deterministically.
	Shuffle bool

	// NullNextLinkOnLastPage makes the last JSON page carry
	// "@odata.nextLink":null instead of no such key.
	NullNextLinkOnLastPage bool
	// ThrottleCode is error.code in the 429 bodies of the rate limiter: "429",
	// as observed, or "TooManyRequests", as documented.
	ThrottleCode string
	// EnforceRateLimits answers 429 with Retry-After once the documented
	// per-minute or per-hour limit of an endpoint is used up.
	EnforceRateLimits bool

	// TenantID, ClientID and ClientSecret are the credentials the token
	// endpoint accepts.
	TenantID, ClientID, ClientSecret string
	// TokenLifetime is the lifetime of the access tokens.
	TokenLifetime time.Duration
	// SASValidity is the validity of the export URLs when the request does not
	// ask for sasValidHours.
	SASValidity time.Duration
	// Now is the tenant's clock. Token expiry, SAS expiry, rate limits and
	// generatedTime follow it.
	Now func() time.Time

	// LoginAddr, APIAddr and BlobAddr are the listen addresses of the three hosts.
	LoginAddr, APIAddr, BlobAddr string
}

// WithDefaults returns o with its zero fields filled: 200 devices, 3 profiles
// of 20 configurations, 4 RBAC groups, 30% non-compliant, 10% not applicable,
// 5% odd shapes, 50,000 records per part, 429 as throttle code, the default
// credentials, tokens of 3599 s, SAS URLs of 1 h, time.Now, and listeners on
// 127.0.0.1 with ports chosen by the system.
func (o Options) WithDefaults() Options {
	o.Devices = count(o.Devices, 200)
	o.Profiles = count(o.Profiles, 3)
	o.ConfigurationsPerProfile = count(o.ConfigurationsPerProfile, 20)
	o.RbacGroups = count(o.RbacGroups, 4)
	o.NonCompliantShare = share(o.NonCompliantShare, 0.3)
	o.NotApplicableShare = share(o.NotApplicableShare, 0.1)
	o.OddShare = share(o.OddShare, 0.05)
	if o.PartRecords <= 0 {
		o.PartRecords = 50_000
	}
	o.EmptyParts = max(o.EmptyParts, 0)

	o.ThrottleCode = text(o.ThrottleCode, "429")
	o.TenantID = text(o.TenantID, DefaultTenantID)
	o.ClientID = text(o.ClientID, DefaultClientID)
	o.ClientSecret = text(o.ClientSecret, DefaultClientSecret)
	if o.TokenLifetime <= 0 {
		o.TokenLifetime = 3599 * time.Second
	}
	if o.SASValidity <= 0 {
		o.SASValidity = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}

	o.LoginAddr = text(o.LoginAddr, "127.0.0.1:0")
	o.APIAddr = text(o.APIAddr, "127.0.0.1:0")
	o.BlobAddr = text(o.BlobAddr, "127.0.0.1:0")
	return o
}

// Demo returns the options of a realistic demo tenant: 3,000 devices on four
// platforms, one profile of 65 configurations each, eight RBAC groups, about
// 195,000 records, so that a refresh takes a few seconds.
func Demo() Options {
	return Options{
		Seed:                     1,
		Devices:                  3000,
		Profiles:                 4,
		ConfigurationsPerProfile: 65,
		RbacGroups:               8,
		NonCompliantShare:        0.1,
		NotApplicableShare:       0.08,
		OddShare:                 0.02,
		EmptyParts:               1,
		Shuffle:                  true,
	}.WithDefaults()
}

// count returns def for zero, zero for a negative n, and n otherwise.
func count(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// share is count for a share, which is also kept within [0, 1].
func share(v, def float64) float64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return min(v, 1)
}

func text(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
