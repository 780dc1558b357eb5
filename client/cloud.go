package client

import (
	"fmt"
	"strings"
)

// A Cloud is one Microsoft cloud: where tokens are issued, where the API answers,
// and which scope (the token audience) the API accepts.
type Cloud struct {
	Name     string
	LoginURL string
	APIURL   string
	// Scope always names the cloud's global API resource. A regional API host is
	// a routing alias only: asked for as a token resource it fails with
	// AADSTS500011.
	Scope string
}

// CloudNames lists the clouds LookupCloud knows.
var CloudNames = []string{"commercial", "gcc", "gcc-high", "dod"}

// clouds follow the Defender for Endpoint US Government page (gov.md). For the
// commercial cloud the API host is the one of the baseline export documentation,
// whose nextLinks stay on it; api.security.microsoft.com and the regional hosts
// can be set as an APIURL override with the same scope.
var clouds = map[string]Cloud{
	"commercial": {
		Name:     "commercial",
		LoginURL: "https://login.microsoftonline.com",
		APIURL:   "https://api.securitycenter.microsoft.com",
		Scope:    "https://api.securitycenter.microsoft.com/.default",
	},
	"gcc": {
		Name:     "gcc",
		LoginURL: "https://login.microsoftonline.com",
		APIURL:   "https://api-gcc.securitycenter.microsoft.us",
		Scope:    "https://api-gcc.securitycenter.microsoft.us/.default",
	},
	"gcc-high": {
		Name:     "gcc-high",
		LoginURL: "https://login.microsoftonline.us",
		APIURL:   "https://api-gov.securitycenter.microsoft.us",
		Scope:    "https://api-gov.securitycenter.microsoft.us/.default",
	},
	"dod": {
		Name:     "dod",
		LoginURL: "https://login.microsoftonline.us",
		APIURL:   "https://api-gov.securitycenter.microsoft.us",
		Scope:    "https://api-gov.securitycenter.microsoft.us/.default",
	},
}

// LookupCloud returns the cloud called name, one of CloudNames (case-insensitive).
// One setting gives the sign-in host, the API host and the token scope together;
// each can still be overridden in Config.
func LookupCloud(name string) (Cloud, error) {
	cloud, ok := clouds[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Cloud{}, fmt.Errorf("unknown cloud %q: want one of %s", name, strings.Join(CloudNames, ", "))
	}

	return cloud, nil
}
