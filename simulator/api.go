package simulator

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The Defender API answers OData JSON.
const odataContentType = "application/json; odata.metadata=minimal; odata.streaming=true; " +
	"IEEE754Compatible=false; charset=utf-8"

// apiRoutes maps lower-case paths to endpoints. The service matches paths
// case-insensitively: its docs spell the same path two ways.
var apiRoutes = map[string]string{
	"/api/machines/baselinecomplianceassessmentbymachine": EndpointAssessments,
	"/api/machines/baselinecomplianceassessmentexport":    EndpointExport,
	"/api/baselineprofiles":                               EndpointProfiles,
	"/api/baselineconfigurations":                         EndpointConfigurations,
}

// route returns the endpoint of a request path. The version segment /api/v1.0/
// is optional, as documented.
func route(path string) (string, bool) {
	p := strings.ToLower(strings.TrimSuffix(path, "/"))
	if rest, ok := strings.CutPrefix(p, "/api/v1.0/"); ok {
		p = "/api/" + rest
	}
	endpoint, ok := apiRoutes[p]
	return endpoint, ok
}

// serveAPI serves the Defender API host.
func (t *Tenant) serveAPI(w http.ResponseWriter, r *http.Request) {
	endpoint, ok := route(r.URL.Path)
	if !ok {
		writeAPIError(w, http.StatusNotFound, "ResourceNotFound", "Resource "+r.URL.Path+" was not found")
		return
	}
	t.handle(endpoint, func(w http.ResponseWriter, r *http.Request) {
		t.serveEndpoint(endpoint, w, r)
	}, w, r)
}

// serveEndpoint checks the method, the token and the rate limits, then answers.
func (t *Tenant) serveEndpoint(endpoint string, w http.ResponseWriter, r *http.Request) {
	st := t.state.Load()
	now := st.opts.Now().UTC()

	if r.Method != http.MethodGet {
		writeAPIError(w, http.StatusMethodNotAllowed, "BadRequest",
			"The requested resource does not support http method '"+r.Method+"'.")
		return
	}
	if status, code, text := t.authorize(r, now); status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"`)
		}
		writeAPIError(w, status, code, text)
		return
	}
	if st.opts.EnforceRateLimits {
		if th, ok := t.limits.take(endpoint, now); !ok {
			writeThrottle(w, st.opts.ThrottleCode, th)
			return
		}
	}

	query, err := lowerQuery(r.URL.RawQuery)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "BadRequest", "The query string is malformed: "+err.Error())
		return
	}

	switch endpoint {
	case EndpointAssessments:
		t.serveAssessments(w, r, st, query)
	case EndpointExport:
		t.serveExport(w, st, query, now)
	case EndpointProfiles:
		t.serveProfiles(w, st, query)
	case EndpointConfigurations:
		t.serveConfigurations(w, st, query)
	}
}

// authorize checks the bearer token: issued here, unexpired on the tenant's
// clock, for the Defender API's audience, with the baseline role.
func (t *Tenant) authorize(r *http.Request, now time.Time) (status int, code, text string) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request: no bearer token."
	}
	c, ok := t.parseToken(strings.TrimSpace(token))
	switch {
	case !ok:
		return http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request: the token is not valid."
	case now.Unix() >= c.Expiry:
		return http.StatusUnauthorized, "Unauthorized", "Authorization has been denied for this request: the token expired."
	case !apiAudiences[c.Audience]:
		return http.StatusForbidden, "Forbidden", "The application token audience '" + c.Audience + "' is not valid for this API."
	}
	for _, role := range c.Roles {
		if role == roleBaselines {
			return 0, "", ""
		}
	}
	return http.StatusForbidden, "Forbidden",
		"The application does not have any of the required application permissions (" + roleBaselines + ") to access the resource."
}

// lowerQuery parses a query string with its names in lower case, since the
// service reads query names case-insensitively.
func lowerQuery(raw string) (map[string]string, error) {
	values, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	q := make(map[string]string, len(values))
	for name, v := range values {
		q[strings.ToLower(name)] = v[0]
	}
	return q, nil
}

// exportResponse is the answer of the file export endpoint.
type exportResponse struct {
	Context       string   `json:"@odata.context"`
	ExportFiles   []string `json:"exportFiles"`
	GeneratedTime string   `json:"generatedTime"`
}

// The documented sasValidHours range.
const maxSASValidHours = 6

// serveExport lists a SAS URL for every file of the current snapshot.
func (t *Tenant) serveExport(w http.ResponseWriter, st *state, query map[string]string, now time.Time) {
	validity := st.opts.SASValidity
	if v, ok := query["sasvalidhours"]; ok {
		hours, err := strconv.Atoi(v)
		if err != nil || hours < 1 || hours > maxSASValidHours {
			writeAPIError(w, http.StatusBadRequest, "InvalidInput",
				"sasValidHours must be a whole number of hours from 1 to 6, not '"+v+"'.")
			return
		}
		validity = time.Duration(hours) * time.Hour
	}

	s := st.snap
	files := make([]string, len(s.gen.parts))
	for i := range files {
		files[i] = t.sasURL(s, i, now, validity)
	}
	writeOData(w, exportResponse{
		Context:       t.api.url + "/api/$metadata#microsoft.windowsDefenderATP.api.ExportFilesResponse",
		ExportFiles:   files,
		GeneratedTime: s.generatedTime.Format(time.RFC3339),
	})
}

// collection is an OData collection answer.
type collection struct {
	Context string `json:"@odata.context"`
	Value   any    `json:"value"`
}

// profileDTO is a PublicBaselineProfileDto. Profiles come in the two spellings
// seen: the documented table's ...TimeOffset names with the scope fields of
// live schemas, and the example's ...TimestampUTC names with zero dates.
type profileDTO struct {
	ID                         string    `json:"id"`
	Name                       string    `json:"name"`
	Description                string    `json:"description"`
	Benchmark                  string    `json:"benchmark"`
	Version                    string    `json:"version"`
	OperatingSystem            string    `json:"operatingSystem"`
	OperatingSystemVersion     string    `json:"operatingSystemVersion"`
	Status                     bool      `json:"status"`
	ComplianceLevel            string    `json:"complianceLevel"`
	SettingsNumber             int       `json:"settingsNumber"`
	CreatedBy                  string    `json:"createdBy"`
	LastUpdatedBy              *string   `json:"lastUpdatedBy"`
	CreatedOnTimeOffset        string    `json:"createdOnTimeOffset,omitempty"`
	LastUpdateTimeOffset       string    `json:"lastUpdateTimeOffset,omitempty"`
	CreatedOnTimestampUTC      string    `json:"createdOnTimestampUTC,omitempty"`
	LastUpdateTimestampUTC     string    `json:"lastUpdateTimestampUTC,omitempty"`
	PassedDevices              int       `json:"passedDevices"`
	TotalDevices               int       `json:"totalDevices"`
	RbacGroupIDsProfileScope   *[]int    `json:"rbacGroupIdsProfileScope,omitempty"`
	RbacGroupNamesProfileScope *[]string `json:"rbacGroupNamesProfileScope,omitempty"`
	DeviceTagsProfileScope     *[]string `json:"deviceTagsProfileScope,omitempty"`
}

const zeroDate = "0001-01-01T00:00:00Z"

func newProfileDTO(p Profile) profileDTO {
	d := profileDTO{
		ID:                     p.ID,
		Name:                   p.Name,
		Description:            p.Description,
		Benchmark:              p.Benchmark,
		Version:                p.Version,
		OperatingSystem:        p.OperatingSystem,
		OperatingSystemVersion: p.OperatingSystemVersion,
		Status:                 p.Status,
		ComplianceLevel:        p.ComplianceLevel,
		SettingsNumber:         p.SettingsNumber,
		CreatedBy:              p.CreatedBy,
		PassedDevices:          p.PassedDevices,
		TotalDevices:           p.TotalDevices,
	}
	if p.CreatedOn.IsZero() {
		d.CreatedOnTimestampUTC, d.LastUpdateTimestampUTC = zeroDate, zeroDate
		return d
	}

	const offsetLayout = "2006-01-02T15:04:05.0000000Z"
	d.LastUpdatedBy = &p.LastUpdatedBy
	d.CreatedOnTimeOffset = p.CreatedOn.UTC().Format(offsetLayout)
	d.LastUpdateTimeOffset = p.LastUpdated.UTC().Format(offsetLayout)
	d.RbacGroupIDsProfileScope = &[]int{}
	d.RbacGroupNamesProfileScope = &[]string{}
	d.DeviceTagsProfileScope = &[]string{}
	return d
}

// configurationDTO is a baseline configuration, in the example's key order.
type configurationDTO struct {
	ID               string   `json:"id"`
	UniqueID         string   `json:"uniqueId"`
	BenchmarkName    string   `json:"benchmarkName"`
	BenchmarkVersion string   `json:"benchmarkVersion"`
	Name             string   `json:"name"`
	Description      string   `json:"description"`
	Category         string   `json:"category"`
	ComplianceLevels []string `json:"complianceLevels"`
	CCE              string   `json:"cce"`
	Rationale        string   `json:"rationale"`
	Remediation      string   `json:"remediation"`
	RecommendedValue []string `json:"recommendedValue"`
	Source           []string `json:"source"`
	IsCustom         bool     `json:"isCustom"`
}

// The documented $top limit of the profile and configuration lists.
const maxListTop = 10_000

// serveProfiles lists the baseline profiles, windowed by $skip and $top.
func (t *Tenant) serveProfiles(w http.ResponseWriter, st *state, query map[string]string) {
	profiles := st.snap.gen.profiles
	from, to, ok := listWindow(w, query, len(profiles))
	if !ok {
		return
	}
	value := make([]profileDTO, 0, to-from)
	for _, p := range profiles[from:to] {
		value = append(value, newProfileDTO(p))
	}
	writeOData(w, collection{
		Context: t.api.url + "/api/$metadata#Collection(microsoft.windowsDefenderATP.api.PublicBaselineProfileDto)",
		Value:   value,
	})
}

// serveConfigurations lists the configurations of the profiles, each once,
// windowed by $skip and $top.
func (t *Tenant) serveConfigurations(w http.ResponseWriter, st *state, query map[string]string) {
	configurations := st.snap.gen.configurations
	from, to, ok := listWindow(w, query, len(configurations))
	if !ok {
		return
	}
	value := make([]configurationDTO, 0, to-from)
	for _, c := range configurations[from:to] {
		value = append(value, configurationDTO{
			ID:               c.ID,
			UniqueID:         c.UniqueID,
			BenchmarkName:    c.BenchmarkName,
			BenchmarkVersion: c.BenchmarkVersion,
			Name:             c.Name,
			Description:      c.Description,
			Category:         c.Category,
			ComplianceLevels: c.ComplianceLevels,
			CCE:              c.CCE,
			Rationale:        c.Rationale,
			Remediation:      c.Remediation,
			RecommendedValue: c.RecommendedValue,
			Source:           c.Source,
			IsCustom:         c.IsCustom,
		})
	}
	writeOData(w, collection{Context: t.api.url + "/api/$metadata#BaselineConfigurations", Value: value})
}

// listWindow applies $skip and $top to a list of n items, or answers 400.
func listWindow(w http.ResponseWriter, query map[string]string, n int) (from, to int, ok bool) {
	from, to = 0, n
	if v, found := query["$skip"]; found {
		skip, err := strconv.Atoi(v)
		if err != nil || skip < 0 {
			writeAPIError(w, http.StatusBadRequest, "ODataError", "Invalid value '"+v+"' for $skip query option.")
			return 0, 0, false
		}
		from = min(skip, n)
	}
	if v, found := query["$top"]; found {
		top, err := strconv.Atoi(v)
		switch {
		case err != nil || top < 0:
			writeAPIError(w, http.StatusBadRequest, "ODataError", "Invalid value '"+v+"' for $top query option.")
			return 0, 0, false
		case top > maxListTop:
			writeAPIError(w, http.StatusBadRequest, "ODataError",
				"The limit of '10000' for Top query has been exceeded. The value from the incoming request is '"+v+"'.")
			return 0, 0, false
		}
		to = min(from+top, n)
	}
	return from, to, true
}

// apiError is the Defender API's error body.
type apiError struct {
	Error apiErrorDetail `json:"error"`
}

type apiErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

// writeAPIError answers {"error":{"code":...,"message":...,"target":...}}; the
// target is a correlation id.
func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	body := apiError{Error: apiErrorDetail{Code: code, Message: message, Target: newRequestID()}}
	writeJSONBody(w, status, "application/json; charset=utf-8", body)
}

func writeOData(w http.ResponseWriter, body any) {
	w.Header().Set("OData-Version", "4.0")
	writeJSONBody(w, http.StatusOK, odataContentType, body)
}

// writeJSONBody writes body as the .NET services do: without escaping <, > and &.
func writeJSONBody(w http.ResponseWriter, status int, contentType string, body any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body) // the bodies are plain structs
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))

	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// newRequestID returns a random GUID, for correlation ids and request ids.
func newRequestID() string {
	return guid(rand.Uint64(), rand.Uint64())
}
