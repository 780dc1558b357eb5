package simulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Token resources. A token's audience is the resource it was asked for.
const (
	resourceMDE   = "https://api.securitycenter.microsoft.com"
	resourceATP   = "https://securitycenter.onmicrosoft.com/windowsatpservice"
	resourceGraph = "https://graph.microsoft.com"

	roleBaselines = "SecurityBaselinesAssessment.Read.All"
)

// knownResources are the resources the tenant can issue tokens for. Graph
// tokens are issued too, and the Defender API refuses them with 403, as the
// real one does when a client asks for the wrong audience.
var knownResources = map[string]bool{resourceMDE: true, resourceATP: true, resourceGraph: true}

// apiAudiences are the audiences the Defender API accepts.
var apiAudiences = map[string]bool{resourceMDE: true, resourceATP: true}

// serveLogin serves the token endpoint, v2 (/{tenant}/oauth2/v2.0/token, with
// scope) and v1 (/{tenant}/oauth2/token, with resource).
func (t *Tenant) serveLogin(w http.ResponseWriter, r *http.Request) {
	tenant, v1, ok := parseTokenPath(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	t.handle(EndpointToken, func(w http.ResponseWriter, r *http.Request) {
		t.serveToken(w, r, tenant, v1)
	}, w, r)
}

// parseTokenPath splits /{tenant}/oauth2/v2.0/token or /{tenant}/oauth2/token.
func parseTokenPath(path string) (tenant string, v1, ok bool) {
	tenant, rest, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch strings.ToLower(strings.TrimSuffix(rest, "/")) {
	case "oauth2/v2.0/token":
		return tenant, false, ok && tenant != ""
	case "oauth2/token":
		return tenant, true, ok && tenant != ""
	}
	return "", false, false
}

// aadFailure is a refused token request: status, error, AADSTS number and text.
type aadFailure struct {
	status int
	code   string
	number int
	text   string
}

func badRequest(code string, number int, text string) *aadFailure {
	return &aadFailure{status: http.StatusBadRequest, code: code, number: number, text: text}
}

func invalidClient(number int, text string) *aadFailure {
	return &aadFailure{status: http.StatusUnauthorized, code: "invalid_client", number: number, text: text}
}

func missingParameter(name string) *aadFailure {
	return badRequest("invalid_request", 900144, "The request body must contain the following parameter: '"+name+"'.")
}

// Parts of Entra ID's longer error texts.
const (
	notInstalled = "This can happen if the application has not been installed by the administrator of the tenant " +
		"or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
	secretHint = "Ensure the secret being sent in the request is the client secret value, not the client secret ID, " +
		"for a secret added to app '"
	defaultHint = "Client credential flows must have a scope value with /.default suffixed to the resource identifier " +
		"(application ID URI)."
)

// serveToken checks a client-credentials request in the order Entra ID does and
// answers a token or an AADSTS error.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request, tenant string, v1 bool) {
	opts := t.state.Load().opts
	now := opts.Now().UTC()

	resource, failure := checkTokenRequest(r, opts, tenant, v1)
	if failure != nil {
		writeAADError(w, now, failure.status, failure.code, failure.number, failure.text)
		return
	}
	token := t.issueToken(opts, resource, now)
	writeTokenResponse(w, v1, token, resource, opts.TokenLifetime, now)
}

// checkTokenRequest returns the resource a valid request asks a token for.
func checkTokenRequest(r *http.Request, opts Options, tenant string, v1 bool) (string, *aadFailure) {
	switch {
	case r.Method != http.MethodPost:
		return "", badRequest("invalid_request", 900561,
			"The endpoint only accepts POST, OPTIONS requests. Received a "+r.Method+" request.")
	case !strings.EqualFold(tenant, opts.TenantID):
		return "", badRequest("invalid_request", 90002, "Tenant '"+tenant+
			"' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
	case r.ParseForm() != nil:
		return "", missingParameter("grant_type")
	}

	if failure := checkClient(r, opts); failure != nil {
		return "", failure
	}
	return requestedResource(r.PostForm, v1, opts.TenantID)
}

// checkClient checks the grant type and the client's credentials, sent in the
// body or with HTTP Basic authentication.
func checkClient(r *http.Request, opts Options) *aadFailure {
	form := r.PostForm
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok {
		clientID, _ = url.QueryUnescape(user)
		secret, _ = url.QueryUnescape(pass)
	}

	switch grant := form.Get("grant_type"); {
	case grant == "":
		return missingParameter("grant_type")
	case grant != "client_credentials":
		return badRequest("unsupported_grant_type", 70003, "The app requested an unsupported grant type '"+grant+"'.")
	case clientID == "":
		return missingParameter("client_id")
	case !strings.EqualFold(clientID, opts.ClientID):
		return badRequest("unauthorized_client", 700016, "Application with identifier '"+clientID+
			"' was not found in the directory '"+opts.TenantID+"'. "+notInstalled)
	case secret == "":
		return invalidClient(7000216,
			"'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
	case secret != opts.ClientSecret:
		return invalidClient(7000215, "Invalid client secret provided. "+secretHint+opts.ClientID+"'.")
	}
	return nil
}

// requestedResource returns the resource a v2 scope or a v1 resource names. A
// regional API host is not a resource: asking for it fails with AADSTS500011.
func requestedResource(form url.Values, v1 bool, tenant string) (string, *aadFailure) {
	resource := strings.TrimSuffix(form.Get("resource"), "/")
	if !v1 {
		scope := strings.TrimSpace(form.Get("scope"))
		var ok bool
		switch resource, ok = strings.CutSuffix(scope, "/.default"); {
		case scope == "":
			return "", missingParameter("scope")
		case !ok || strings.ContainsAny(scope, " ,"):
			return "", badRequest("invalid_scope", 1002012, "The provided value for scope "+scope+" is not valid. "+defaultHint)
		}
	}

	switch u, err := url.Parse(resource); {
	case knownResources[resource]:
		return resource, nil
	case resource == "":
		return "", missingParameter("resource")
	case err != nil || u.Scheme == "" || u.Host == "":
		return "", badRequest("invalid_scope", 70011,
			"The provided value for the input parameter 'scope' is not valid. The scope "+resource+" is not valid.")
	}
	return "", badRequest("invalid_resource", 500011, "The resource principal named "+resource+
		" was not found in the tenant named "+tenant+". "+notInstalled)
}

// claims are the access token claims the simulator writes and checks.
type claims struct {
	Audience  string   `json:"aud"`
	Issuer    string   `json:"iss"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	AppID     string   `json:"appid"`
	AppIDACR  string   `json:"appidacr"`
	IDP       string   `json:"idp"`
	OID       string   `json:"oid"`
	Roles     []string `json:"roles"`
	Subject   string   `json:"sub"`
	TenantID  string   `json:"tid"`
	Version   string   `json:"ver"`
}

// tokenHeader is the JOSE header of every token. The signature is really an
// HMAC of the tenant's key: only this tenant needs to check it.
const tokenHeader = `{"typ":"JWT","alg":"RS256","x5t":"c2ltdWxhdG9yLWtleS0x","kid":"c2ltdWxhdG9yLWtleS0x"}`

// issueToken returns a JWT-shaped access token, signed with the tenant's key.
func (t *Tenant) issueToken(opts Options, resource string, now time.Time) string {
	issuer := "https://sts.windows.net/" + opts.TenantID + "/"
	servicePrincipal := newRequestID()
	c := claims{
		Audience:  resource,
		Issuer:    issuer,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		Expiry:    now.Add(opts.TokenLifetime).Unix(),
		AppID:     opts.ClientID,
		AppIDACR:  "1",
		IDP:       issuer,
		OID:       servicePrincipal,
		Roles:     []string{roleBaselines},
		Subject:   servicePrincipal,
		TenantID:  opts.TenantID,
		Version:   "1.0",
	}
	payload, _ := json.Marshal(c) // claims always marshal

	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(tokenHeader)) + "." + enc.EncodeToString(payload)
	return unsigned + "." + enc.EncodeToString(t.tokenMAC(unsigned))
}

func (t *Tenant) tokenMAC(unsigned string) []byte {
	m := hmac.New(sha256.New, t.tokenKey)
	m.Write([]byte(unsigned))
	return m.Sum(nil)
}

// parseToken returns the claims of a token the tenant issued, or false.
func (t *Tenant) parseToken(token string) (claims, bool) {
	unsigned, sig, ok := cutLast(token, ".")
	if !ok {
		return claims{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, t.tokenMAC(unsigned)) {
		return claims{}, false
	}

	_, payload, _ := strings.Cut(unsigned, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return claims{}, false
	}
	var c claims
	return c, json.Unmarshal(raw, &c) == nil
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// tokenV2 is the v2 endpoint's answer; its numbers are JSON numbers.
type tokenV2 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
}

// tokenV1 is the v1 endpoint's answer; its numbers are JSON strings.
type tokenV1 struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    string `json:"expires_in"`
	ExtExpiresIn string `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on"`
	NotBefore    string `json:"not_before"`
	Resource     string `json:"resource"`
	AccessToken  string `json:"access_token"`
}

// writeTokenResponse answers a token in the shape of the endpoint version.
func writeTokenResponse(w http.ResponseWriter, v1 bool, token, resource string, lifetime time.Duration, now time.Time) {
	seconds := int64(lifetime / time.Second)
	var body any = tokenV2{TokenType: "Bearer", ExpiresIn: seconds, ExtExpiresIn: seconds, AccessToken: token}
	if v1 {
		s := strconv.FormatInt(seconds, 10)
		body = tokenV1{
			TokenType:    "Bearer",
			ExpiresIn:    s,
			ExtExpiresIn: s,
			ExpiresOn:    strconv.FormatInt(now.Add(lifetime).Unix(), 10),
			NotBefore:    strconv.FormatInt(now.Unix(), 10),
			Resource:     resource,
			AccessToken:  token,
		}
	}
	setLoginHeaders(w)
	writeJSONBody(w, http.StatusOK, "application/json; charset=utf-8", body)
}

// aadError is the body of a token endpoint error.
type aadError struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	URI           string `json:"error_uri"`
}

// writeAADError answers an AADSTS error, e.g. 401 invalid_client AADSTS7000215.
func writeAADError(w http.ResponseWriter, now time.Time, status int, code string, number int, text string) {
	setLoginHeaders(w)
	writeJSONBody(w, status, "application/json; charset=utf-8", newAADError(now, code, number, text))
}

func newAADError(now time.Time, code string, number int, text string) aadError {
	stamp := now.UTC().Format("2006-01-02 15:04:05Z")
	trace, correlation := newRequestID(), newRequestID()
	n := strconv.Itoa(number)
	return aadError{
		Error: code,
		Description: "AADSTS" + n + ": " + text + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation +
			"\r\nTimestamp: " + stamp,
		Codes:         []int{number},
		Timestamp:     stamp,
		TraceID:       trace,
		CorrelationID: correlation,
		URI:           "https://login.microsoftonline.com/error?code=" + n,
	}
}

func setLoginHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", newRequestID())
}
