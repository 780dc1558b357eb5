package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mde-exporter/mde_exporter/simulator"
)

// runMainEnv makes the test binary run the program instead of the tests, with
// the arguments it holds, so that a test can watch a whole process (--help
// exits it).
const runMainEnv = "MDE_EXPORTER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(runMainEnv); ok {
		os.Exit(run(context.Background(), strings.Fields(args), os.Stderr))
	}
	os.Exit(m.Run())
}

// leakedSecretTenantSecret is the client secret of the secret test. The token
// endpoint there echoes it back in an error, as a hostile or buggy one might.
const leakedSecretTenantSecret = "k7Q~leak.Test_9fZ2-Secret.Value"

// TestNoSecretInAnyOutput runs the program against a simulated tenant with
// debug logs, through failures that log URLs, tokens and error bodies: a token
// endpoint that echoes the secret, an API that refuses the token, a blob store
// whose signatures expire and that fails once. Nothing it writes anywhere (log,
// metrics, pages, --help) holds the secret, an access token or a download
// signature.
func TestNoSecretInAnyOutput(t *testing.T) {
	frozen := time.Now().UTC().Truncate(time.Second)
	tenant, err := simulator.Start(simulator.Options{
		Seed: 21, Devices: 40, Profiles: 2, ConfigurationsPerProfile: 5, PartRecords: 60,
		ClientSecret: leakedSecretTenantSecret,
		// A frozen clock signs every download URL alike, so that the test can
		// learn the signatures the exporter was given.
		Now: func() time.Time { return frozen },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()

	tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointToken, Status: http.StatusUnauthorized, Body: `{"error":"invalid_client",` +
		`"error_description":"AADSTS7000215: Invalid client secret provided: '` + leakedSecretTenantSecret + `'.\r\nTrace ID: 1",` +
		`"error_codes":[7000215]}`})
	tenant.Inject(simulator.Fault{Endpoint: simulator.EndpointExport, Status: http.StatusUnauthorized,
		Body: `{"error":{"code":"Unauthorized","message":"Authorization has been denied for this request.","target":"|3a1b"}}`})
	tenant.Inject(simulator.SASExpired())
	tenant.Inject(simulator.ServerError(simulator.EndpointExportFile))

	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(leakedSecretTenantSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddress(t)
	logs, stop := startProgram(t,
		"--mde.tenant-id="+simulator.DefaultTenantID, "--mde.client-id="+simulator.DefaultClientID,
		"--mde.client-secret-file="+secretFile,
		"--mde.login-url="+tenant.LoginURL(), "--mde.api-url="+tenant.APIURL(), "--mde.scope="+tenant.Scope(),
		"--mde.allow-insecure-downloads", "--mde.max-retries=2", "--mde.rate-limit=baseline_export=60/600",
		"--refresh.interval=1s", "--refresh.start-delay=0s",
		"--web.listen-address="+addr, "--log.level=debug")

	base := "http://" + addr
	var output strings.Builder
	waitFor(t, logs, "the first refresh to fail", func() bool {
		return strings.Contains(logs.String(), "refresh failed")
	})
	status, body := get(t, base+"/-/ready")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "no snapshot loaded yet") {
		t.Errorf("GET /-/ready before any snapshot: %d %q, want 503 saying none is loaded", status, body)
	}
	output.WriteString(body)

	waitFor(t, logs, "a snapshot", func() bool { return answers(addr, "/-/ready", http.StatusOK) })
	for _, path := range []string{"/metrics", "/", "/-/ready", "/-/healthy"} {
		_, body := get(t, base+path)
		output.WriteString(body)
	}
	stop()
	output.WriteString(logs.String())
	output.WriteString(runHelp(t, leakedSecretTenantSecret))

	all := output.String()
	for _, want := range []string{"sig=REDACTED", "token request rejected", "AADSTS7000215", "export file URLs expired",
		"mde_exporter_sas_url_refreshes_total 1", "usage: mde_exporter", "--snapshot.path"} {
		if !strings.Contains(all, want) {
			t.Errorf("the output lacks %q: the run did not go through what the test checks", want)
		}
	}

	forbidden := map[string]string{"client secret": leakedSecretTenantSecret, "access token (JWT)": "eyJ"}
	for i, sig := range exportSignatures(t, tenant) {
		forbidden[fmt.Sprintf("signature %d", i)] = sig
		forbidden[fmt.Sprintf("escaped signature %d", i)] = url.QueryEscape(sig)
	}
	for what, secret := range forbidden {
		if i := strings.Index(all, secret); i >= 0 {
			t.Errorf("the output shows the %s: …%s…", what, all[max(i-80, 0):min(i+80, len(all))])
		}
	}
	for _, m := range sasQueryValue.FindAllStringSubmatch(all, -1) {
		if m[2] != "REDACTED" {
			t.Errorf("the output shows a query value of a download URL or nextLink: %s", m[0])
		}
	}
}

// sasQueryValue finds the query values of SAS URLs and nextLinks.
var sasQueryValue = regexp.MustCompile(`[?&](sv|st|se|sr|sp|sig|skoid|sktid|\$skiptoken)=([^&\s"':]*)`)

// startProgram runs the program with args until stop is called or the test
// ends, and returns its output.
func startProgram(t *testing.T, args ...string) (logs *lockedBuffer, stop func()) {
	t.Helper()
	logs = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, args, logs) }()

	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if code := <-exited; code != 0 {
				t.Errorf("exit code %d; log:\n%s", code, logs.String())
			}
		})
	}
	t.Cleanup(stop)
	return logs, stop
}

// waitFor polls done for up to 30s.
func waitFor(t *testing.T, logs *lockedBuffer, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30s; log:\n%s", what, logs.String())
		}
	}
}

// runHelp returns what --help prints, with the secret in the environment.
func runHelp(t *testing.T, secret string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runMainEnv+"=--help", secretEnvVar+"="+secret)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	return string(out)
}

// exportSignatures asks the tenant for its download URLs, as the exporter did,
// and returns their signatures.
func exportSignatures(t *testing.T, tenant *simulator.Tenant) []string {
	t.Helper()
	resp, err := http.PostForm(tenant.LoginURL()+"/"+simulator.DefaultTenantID+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {simulator.DefaultClientID},
		"client_secret": {leakedSecretTenantSecret}, "scope": {tenant.Scope()},
	})
	if err != nil {
		t.Fatal(err)
	}
	var token struct {
		AccessToken string `json:"access_token"`
	}
	decodeJSON(t, resp, &token)

	req, _ := http.NewRequest(http.MethodGet, tenant.APIURL()+"/api/machines/BaselineComplianceAssessmentExport", nil)
	req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var export struct {
		ExportFiles []string `json:"exportFiles"`
	}
	decodeJSON(t, resp, &export)

	var sigs []string
	for _, raw := range export.ExportFiles {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, u.Query().Get("sig"))
	}
	if len(sigs) < 2 {
		t.Fatalf("the tenant lists %d export files, want several", len(sigs))
	}
	return sigs
}

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", resp.Request.URL.Path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestWebConfigTLSAndBasicAuth serves over TLS with basic auth from
// --web.config.file and reads it with a real client over loopback. The
// exporter's own request bounds apply behind the authentication.
func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, roots := selfSignedCertificate(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web-config.yml")
	config := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n",
		certFile, keyFile, hash)
	if err := os.WriteFile(webConfig, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddress(t)
	logs, _ := startProgram(t, "--demo", "--demo.devices=30", "--web.listen-address="+addr, "--web.config.file="+webConfig)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	base := "https://" + addr
	request := func(method, path, user, password string, body io.Reader) int {
		req, err := http.NewRequest(method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	waitFor(t, logs, "readiness over TLS", func() bool {
		return request(http.MethodGet, "/-/ready", "prometheus", "scrape-pass", nil) == http.StatusOK
	})

	tests := []struct {
		name, method, path, user, password string
		body                               io.Reader
		want                               int
	}{
		{"no credentials", http.MethodGet, "/metrics", "", "", nil, http.StatusUnauthorized},
		{"wrong password", http.MethodGet, "/metrics", "prometheus", "guess", nil, http.StatusUnauthorized},
		{"right password", http.MethodGet, "/metrics", "prometheus", "scrape-pass", nil, http.StatusOK},
		{"query over 1 KiB", http.MethodGet, "/metrics?x=" + strings.Repeat("a", 2000), "prometheus", "scrape-pass", nil, http.StatusRequestURITooLong},
		{"body over 1 KiB", http.MethodPost, "/metrics", "prometheus", "scrape-pass", strings.NewReader(strings.Repeat("a", 4096)), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		if got := request(tt.method, tt.path, tt.user, tt.password, tt.body); got != tt.want {
			t.Errorf("%s: %s %s answered %d, want %d", tt.name, tt.method, tt.path, got, tt.want)
		}
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain http was served next to TLS")
		}
	}
}

// selfSignedCertificate writes a certificate for 127.0.0.1 and its key, and
// returns their files and a pool that trusts it.
func selfSignedCertificate(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mde-exporter.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)

	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func writePEM(t *testing.T, path, blockType string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
