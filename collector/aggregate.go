package collector

import (
	"crypto/sha1"
	"encoding/hex"
	"sync"

	"github.com/mde-exporter/mde_exporter/client"
)

// Record statuses, as they appear in the status label.
const (
	statusCompliant     uint8 = 0
	statusNonCompliant  uint8 = 1
	statusNotApplicable uint8 = 2
)

var statusNames = [...]string{"compliant", "non_compliant", "not_applicable"}

// Label values used when a record leaves the field empty, absent or null.
var (
	unassignedGroup = []byte("Unassigned")
	unknownPlatform = []byte("Unknown")
)

// seriesKey identifies one mde_baseline_devices series by interned label ids.
type seriesKey struct {
	profile, configuration, group, platform uint32
	status                                  uint8
}

// deviceKey identifies one device assessed against one profile. Device ids are
// 40 hex digits, kept as their 20 bytes; any other id is kept as its SHA-1.
type deviceKey struct {
	device  [20]byte
	profile uint32
}

// deviceState is what one device's records for one profile add up to.
type deviceState struct {
	group, platform uint32
	applicable      bool
	failing         bool
}

// rollup returns the status of a device for a profile: failing one applicable
// configuration makes it non-compliant, passing all of them compliant.
func (s deviceState) rollup() uint8 {
	switch {
	case s.failing:
		return statusNonCompliant
	case s.applicable:
		return statusCompliant
	default:
		return statusNotApplicable
	}
}

// merge folds the records of another part into s.
func (s *deviceState) merge(o deviceState) {
	s.applicable = s.applicable || o.applicable
	s.failing = s.failing || o.failing
}

// interner maps label values to small ids and back.
type interner struct {
	ids    map[string]uint32
	values []string
}

func newInterner() interner {
	return interner{ids: make(map[string]uint32)}
}

// id returns the id of b, adding it on first sight. The lookup does not
// allocate; only a new value is copied.
func (in *interner) id(b []byte) uint32 {
	if id, ok := in.ids[string(b)]; ok {
		return id
	}
	return in.add(string(b))
}

func (in *interner) add(s string) uint32 {
	id := uint32(len(in.values))
	in.ids[s] = id
	in.values = append(in.values, s)
	return id
}

// tally holds the counts of one part, or of the whole snapshot.
type tally struct {
	profiles, configurations, groups, platforms interner

	series  map[seriesKey]uint64
	devices map[deviceKey]deviceState
	records int64
}

func newTally() *tally {
	return &tally{
		profiles:       newInterner(),
		configurations: newInterner(),
		groups:         newInterner(),
		platforms:      newInterner(),
		series:         make(map[seriesKey]uint64),
		devices:        make(map[deviceKey]deviceState),
	}
}

// Add implements client.PartSink.
func (t *tally) Add(a *client.Assessment) {
	key := seriesKey{
		profile:       t.profiles.id(a.ProfileID),
		configuration: t.configurations.id(a.ConfigurationID),
		group:         t.groups.id(orDefault(a.RbacGroupName, unassignedGroup)),
		platform:      t.platforms.id(orDefault(a.OSPlatform, unknownPlatform)),
		status:        recordStatus(a),
	}
	t.series[key]++
	t.records++

	device := deviceKey{device: deviceBytes(a.DeviceID), profile: key.profile}
	state, seen := t.devices[device]
	if !seen {
		state.group, state.platform = key.group, key.platform
	}
	state.applicable = state.applicable || key.status != statusNotApplicable
	state.failing = state.failing || key.status == statusNonCompliant
	t.devices[device] = state
}

// recordStatus decides a record's status. A record that is not applicable never
// counts as non-compliant, whatever its isCompliant says.
func recordStatus(a *client.Assessment) uint8 {
	switch {
	case !a.IsApplicable:
		return statusNotApplicable
	case a.IsCompliant:
		return statusCompliant
	default:
		return statusNonCompliant
	}
}

func orDefault(b, fallback []byte) []byte {
	if len(b) == 0 {
		return fallback
	}
	return b
}

// deviceBytes packs a device id into 20 bytes without allocating.
func deviceBytes(id []byte) [20]byte {
	var out [20]byte
	if len(id) == 40 {
		if _, err := hex.Decode(out[:], id); err == nil {
			return out
		}
	}
	return sha1.Sum(id)
}

// mergeFrom adds the counts of part p to t, translating p's label ids into t's.
// The first part is adopted as it is.
func (t *tally) mergeFrom(p *tally) {
	if t.records == 0 && len(t.devices) == 0 {
		*t = *p
		return
	}

	profiles := translate(&t.profiles, p.profiles)
	configurations := translate(&t.configurations, p.configurations)
	groups := translate(&t.groups, p.groups)
	platforms := translate(&t.platforms, p.platforms)

	for k, n := range p.series {
		k.profile, k.configuration = profiles[k.profile], configurations[k.configuration]
		k.group, k.platform = groups[k.group], platforms[k.platform]
		t.series[k] += n
	}

	for k, s := range p.devices {
		k.profile = profiles[k.profile]
		s.group, s.platform = groups[s.group], platforms[s.platform]
		if have, ok := t.devices[k]; ok {
			have.merge(s)
			s = have
		}
		t.devices[k] = s
	}

	t.records += p.records
}

// translate returns, for each id of from, the id of the same value in to.
func translate(to *interner, from interner) []uint32 {
	ids := make([]uint32, len(from.values))
	for i, v := range from.values {
		if id, ok := to.ids[v]; ok {
			ids[i] = id
			continue
		}
		ids[i] = to.add(v)
	}
	return ids
}

// Aggregator counts the records of one snapshot while they stream in. It
// implements client.Sink: parts are counted apart and added to the totals only
// when they were read whole, so a failed part leaves no trace.
type Aggregator struct {
	mu    sync.Mutex
	total *tally
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{total: newTally()}
}

// BeginPart implements client.Sink.
func (g *Aggregator) BeginPart() client.PartSink {
	return newTally()
}

// CommitPart implements client.Sink.
func (g *Aggregator) CommitPart(p client.PartSink) {
	part := p.(*tally)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.total.mergeFrom(part)
}

// Records returns the number of records committed so far.
func (g *Aggregator) Records() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total.records
}
