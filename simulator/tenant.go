package simulator

import (
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// scopeMDE is the scope the documentation's samples ask tokens for.
const scopeMDE = resourceMDE + "/.default"

// endpoints are all the endpoint names.
var endpoints = []string{
	EndpointToken, EndpointAssessments, EndpointExport, EndpointExportFile, EndpointProfiles, EndpointConfigurations,
}

// maxSnapshots is how many snapshots keep their files downloadable: the current
// one, and the one a slow download may still be reading.
const maxSnapshots = 2

// Tenant is a running simulated tenant. Its methods are safe for concurrent use.
type Tenant struct {
	login, api, blob *host

	state atomic.Pointer[state]

	mu      sync.Mutex
	snaps   []*snapshot // snapshots whose files can be downloaded, newest last
	seq     uint64
	sasKeys [][]byte // signing keys, newest last; the older ones are expired
	closed  bool

	tokenKey []byte
	requests map[string]*atomic.Int64
	faults   faultQueue
	limits   limiter
}

// state is what a request reads: the options in force and the current snapshot.
type state struct {
	opts Options
	snap *snapshot
}

// snapshot is one published export: generated data under a generatedTime.
type snapshot struct {
	gen           *generation
	generatedTime time.Time
	timePath      string // e.g. 2021-01-11/1101/
	container     string // e.g. temp-1ebd3d09-d06a-4aad-ab80-ebc536cec61c
}

// blobPath is the path of part i on the storage host.
func (s *snapshot) blobPath(i int) string {
	return "/" + s.container + "/" + s.timePath + s.gen.parts[i].suffix
}

// Start generates the tenant and serves it on three listeners (login, API and
// blob storage), as Entra ID, the Defender API and Azure Blob Storage are three
// hosts. Close stops it.
func Start(opts Options) (*Tenant, error) {
	opts = opts.WithDefaults()
	t := &Tenant{
		tokenKey: secretKey(opts.Seed, streamToken, 0),
		sasKeys:  [][]byte{secretKey(opts.Seed, streamSAS, 0)},
		requests: make(map[string]*atomic.Int64),
	}
	for _, e := range endpoints {
		t.requests[e] = new(atomic.Int64)
	}
	t.publish(opts, newGeneration(opts, dataTime(opts)))

	var err error
	if t.login, err = listen("login", opts.LoginAddr, t.serveLogin); err != nil {
		return nil, err
	}
	if t.api, err = listen("API", opts.APIAddr, t.serveAPI); err != nil {
		t.Close()
		return nil, err
	}
	if t.blob, err = listen("blob storage", opts.BlobAddr, t.serveBlob); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// dataTime is the time the generated data was collected by. It is the hour of
// the clock, so tenants with the same seed started within an hour have the
// same files.
func dataTime(opts Options) time.Time {
	return opts.Now().UTC().Truncate(time.Hour)
}

// LoginURL is the base URL of the token endpoint's host. Tokens are issued at
// LoginURL()+"/{tenant}/oauth2/v2.0/token".
func (t *Tenant) LoginURL() string { return t.login.url }

// APIURL is the base URL of the Defender API; the endpoints are under /api/.
func (t *Tenant) APIURL() string { return t.api.url }

// BlobURL is the base URL of the storage host of the export files.
func (t *Tenant) BlobURL() string { return t.blob.url }

// Scope is the token scope the tenant's API accepts. The documentation's other
// scope, https://securitycenter.onmicrosoft.com/windowsatpservice/.default,
// works too.
func (t *Tenant) Scope() string { return scopeMDE }

// Close stops the listeners and drops open connections.
func (t *Tenant) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()

	for _, h := range []*host{t.login, t.api, t.blob} {
		if h != nil {
			_ = h.srv.Close()
		}
	}
}

// Expected returns the exact aggregates of the current snapshot, computed from
// the generator, not from what was served.
func (t *Tenant) Expected() Expected {
	s := t.state.Load().snap
	e := s.gen.expected
	e.Devices = maps.Clone(e.Devices)
	e.ProfileDevices = maps.Clone(e.ProfileDevices)
	e.GeneratedTime = s.generatedTime
	return e
}

// Profiles returns the baseline profiles of the current snapshot.
func (t *Tenant) Profiles() []Profile {
	return slices.Clone(t.state.Load().snap.gen.profiles)
}

// Configurations returns the configurations of the current snapshot, once
// each, as /api/baselineConfigurations lists them.
func (t *Tenant) Configurations() []Configuration {
	return slices.Clone(t.state.Load().snap.gen.configurations)
}

// Records calls fn for every record of the current snapshot, in export order:
// file by file as the export lists them, line by line.
func (t *Tenant) Records(fn func(Record)) {
	g := t.state.Load().snap.gen
	for i := range g.parts {
		p := &g.parts[i]
		for n := range p.count {
			fn(g.record(g.locate(p, n)))
		}
	}
}

// Inject queues a fault. Faults for one endpoint apply one after the other, in
// the order they were injected.
func (t *Tenant) Inject(f Fault) {
	t.faults.push(f)
}

// Requests returns how many requests endpoint received, faulted ones included.
func (t *Tenant) Requests(endpoint string) int {
	if n, ok := t.requests[endpoint]; ok {
		return int(n.Load())
	}
	return 0
}

// ExpireSAS expires every SAS URL handed out so far: their downloads answer
// 403 AuthenticationFailed, as Azure does after the expiry time.
func (t *Tenant) ExpireSAS() {
	t.mu.Lock()
	defer t.mu.Unlock()
	seed := t.state.Load().opts.Seed
	t.sasKeys = append(t.sasKeys, secretKey(seed, streamSAS, uint64(len(t.sasKeys))))
}

// Rotate publishes a new snapshot of the same data, with a new generatedTime
// and time path. Skip tokens of the previous snapshot answer 400; its files can
// still be downloaded until the snapshot after.
func (t *Tenant) Rotate() {
	st := t.state.Load()
	t.publish(st.opts, st.snap.gen)
}

// RotateWith publishes a new snapshot generated from opts, for example with
// another seed. All options take effect except the listen addresses.
func (t *Tenant) RotateWith(opts Options) error {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return errors.New("simulator: tenant is closed")
	}

	opts = opts.WithDefaults()
	t.publish(opts, newGeneration(opts, dataTime(opts)))
	return nil
}

// publish makes gen the current snapshot. Its generatedTime is the clock's
// minute, and always later than the previous snapshot's, so that every
// snapshot has its own time path.
func (t *Tenant) publish(opts Options, gen *generation) {
	t.mu.Lock()
	defer t.mu.Unlock()

	generated := opts.Now().UTC().Truncate(time.Minute)
	if old := t.state.Load(); old != nil && !generated.After(old.snap.generatedTime) {
		generated = old.snap.generatedTime.Add(time.Minute)
	}
	t.seq++
	s := &snapshot{
		gen:           gen,
		generatedTime: generated,
		timePath:      generated.Format("2006-01-02/1504/"),
		container:     "temp-" + newGUID(rand.New(rand.NewPCG(gen.key, streamContainer<<32|t.seq))),
	}

	t.snaps = append(t.snaps, s)
	if len(t.snaps) > maxSnapshots {
		t.snaps = slices.Delete(t.snaps, 0, len(t.snaps)-maxSnapshots)
	}
	t.state.Store(&state{opts: opts, snap: s})
}

// handle counts a request to endpoint, applies the next fault queued for it,
// and otherwise serves it with next.
func (t *Tenant) handle(endpoint string, next http.HandlerFunc, w http.ResponseWriter, r *http.Request) {
	t.requests[endpoint].Add(1)
	if f, ok := t.faults.take(endpoint); ok {
		applyFault(f, next, w, r)
		return
	}
	next(w, r)
}

// host is one listener of the tenant.
type host struct {
	srv *http.Server
	url string
}

// listen serves h on addr. A host listening on all interfaces is reached
// through 127.0.0.1.
func listen(name, addr string, h http.HandlerFunc) (*host, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simulator: listen for the %s host: %w", name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(ln) }() // it returns when Close is called

	a := ln.Addr().(*net.TCPAddr)
	ip := a.IP.String()
	if a.IP.IsUnspecified() {
		ip = "127.0.0.1"
	}
	return &host{srv: srv, url: "http://" + net.JoinHostPort(ip, strconv.Itoa(a.Port))}, nil
}

// secretKey derives a signing key from the seed.
func secretKey(seed int64, stream, n uint64) []byte {
	key := make([]byte, 0, 32)
	for i := range uint64(4) {
		h := mix(uint64(seed), stream<<32|n, i)
		for j := range 8 {
			key = append(key, byte(h>>(8*j)))
		}
	}
	return key
}
