package collector

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
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

// count folds one record of status into s.
func (s *deviceState) count(status uint8) {
	s.applicable = s.applicable || status != statusNotApplicable
	s.failing = s.failing || status == statusNonCompliant
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

// labels interns the label values of one tally.
type labels struct {
	profiles, configurations, groups, platforms interner
}

func newLabels() labels {
	return labels{
		profiles:       newInterner(),
		configurations: newInterner(),
		groups:         newInterner(),
		platforms:      newInterner(),
	}
}

// partTally counts the records of one part. It is built for the hot path: a
// record costs one lookup of its device, which leads to the labels the device's
// records share, and one lookup of its configuration. Label values are interned
// and device ids packed only when first seen.
type partTally struct {
	labels

	// contexts are the combinations of profile, group and platform seen, found
	// by their encoded labels (see appendLabelKey) through contextIndex.
	contexts     []seriesContext
	contextIndex map[string]uint32
	keyBuf       []byte

	series []seriesCount

	// deviceIndex maps a device id, as sent, to its entry for the first profile
	// it was seen with; entries for other profiles are chained from there.
	deviceIndex map[string]uint32
	devices     []deviceEntry
	// lastDevice is the entry of the last record, which the next record often
	// shares.
	lastDevice uint32

	records int64
}

// seriesContext is one profile, group and platform: the labels that all records
// of a device for a profile share. Its configurations map to their series.
type seriesContext struct {
	profile, group, platform []byte
	key                      seriesKey // without configuration and status
	// configurations holds, for each configuration and status, 1 + the index
	// of its series, or 0 before the first record.
	configurations map[string][3]uint32
}

// matches reports whether a record of the context's profile has its labels.
func (c *seriesContext) matches(group, platform []byte) bool {
	return bytes.Equal(c.group, group) && bytes.Equal(c.platform, platform)
}

type seriesCount struct {
	key   seriesKey
	count uint64
}

// deviceEntry is what one device's records for one profile add up to in a part.
type deviceEntry struct {
	id string
	// context holds the labels of the device's first record for the profile,
	// which label its rollup.
	context uint32
	// next is 1 + the index of the device's entry for another profile, or 0.
	next  uint32
	state deviceState
}

func newPartTally() *partTally {
	return &partTally{
		labels:       newLabels(),
		contextIndex: make(map[string]uint32),
		deviceIndex:  make(map[string]uint32),
	}
}

// reset empties p for another part, keeping the memory it can.
func (p *partTally) reset() {
	p.labels = newLabels()
	p.contexts = p.contexts[:0]
	clear(p.contextIndex)
	p.series = p.series[:0]
	clear(p.deviceIndex)
	p.devices = p.devices[:0]
	p.records = 0
}

// Add implements client.PartSink.
func (p *partTally) Add(a *client.Assessment) {
	status := recordStatus(a)
	group := orDefault(a.RbacGroupName, unassignedGroup)
	platform := orDefault(a.OSPlatform, unknownPlatform)

	device := p.deviceEntryOf(a.DeviceID, a.ProfileID, group, platform)
	device.state.count(status)

	context := &p.contexts[device.context]
	if !context.matches(group, platform) {
		context = &p.contexts[p.contextOf(a.ProfileID, group, platform)]
	}

	index := context.configurations[string(a.ConfigurationID)][status]
	if index == 0 {
		index = p.addSeries(context, a.ConfigurationID, status)
	}
	p.series[index-1].count++
	p.records++
}

// deviceEntryOf returns the entry of a device for a profile, adding it on first
// sight with the context of the record's labels.
func (p *partTally) deviceEntryOf(id, profile, group, platform []byte) *deviceEntry {
	if int(p.lastDevice) < len(p.devices) {
		if e := &p.devices[p.lastDevice]; e.id == string(id) && bytes.Equal(p.contexts[e.context].profile, profile) {
			return e
		}
	}

	index, ok := p.deviceIndex[string(id)]
	if !ok {
		index = p.addDevice(string(id), profile, group, platform)
		p.deviceIndex[p.devices[index].id] = index
	}

	for {
		e := &p.devices[index]
		if bytes.Equal(p.contexts[e.context].profile, profile) {
			break
		}
		if e.next == 0 {
			next := p.addDevice(e.id, profile, group, platform)
			p.devices[index].next = next + 1
		}
		index = p.devices[index].next - 1
	}

	p.lastDevice = index
	return &p.devices[index]
}

// addDevice adds an entry for a device and a profile and returns its index.
func (p *partTally) addDevice(id string, profile, group, platform []byte) uint32 {
	context := p.contextOf(profile, group, platform)
	p.devices = append(p.devices, deviceEntry{id: id, context: context})
	return uint32(len(p.devices) - 1)
}

// contextOf returns the index of the context of a record's labels, adding it on
// first sight.
func (p *partTally) contextOf(profile, group, platform []byte) uint32 {
	p.keyBuf = appendLabelKey(p.keyBuf[:0], profile, group, platform)
	if index, ok := p.contextIndex[string(p.keyBuf)]; ok {
		return index
	}

	index := uint32(len(p.contexts))
	p.contexts = append(p.contexts, seriesContext{
		profile:  bytes.Clone(profile),
		group:    bytes.Clone(group),
		platform: bytes.Clone(platform),
		key: seriesKey{
			profile:  p.profiles.id(profile),
			group:    p.groups.id(group),
			platform: p.platforms.id(platform),
		},
		configurations: make(map[string][3]uint32),
	})
	p.contextIndex[string(p.keyBuf)] = index
	return index
}

// appendLabelKey appends an unambiguous encoding of label values: each value
// preceded by its length.
func appendLabelKey(b []byte, values ...[]byte) []byte {
	for _, v := range values {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// addSeries adds the series of a configuration and status in context and
// returns 1 + its index.
func (p *partTally) addSeries(context *seriesContext, configuration []byte, status uint8) uint32 {
	key := context.key
	key.configuration, key.status = p.configurations.id(configuration), status
	p.series = append(p.series, seriesCount{key: key})

	byStatus := context.configurations[string(configuration)]
	byStatus[status] = uint32(len(p.series))
	context.configurations[string(configuration)] = byStatus
	return byStatus[status]
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
	if len(id) == 40 && decodeHex40(&out, id) {
		return out
	}
	return sha1.Sum(id)
}

// decodeHex40 decodes 40 hex digits of either case into out, eight digits at a
// time, and reports whether they were all hex digits. It does what hex.Decode
// does for every record, several times faster.
func decodeHex40(out *[20]byte, digits []byte) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)

	for i := range 5 {
		x := binary.LittleEndian.Uint64(digits[8*i:])

		// Each byte gets its high bit set when it lies in a range; the sums
		// cannot carry into the next byte since every byte is ASCII.
		lower := x | ones*0x20
		digit := (x + ones*(0x80-'0')) &^ (x + ones*(0x7f-'9'))
		letter := (lower + ones*(0x80-'a')) &^ (lower + ones*(0x7f-'f'))
		if x&high != 0 || (digit|letter)&high != high {
			return false
		}

		// A digit's value is its low four bits, plus 9 for a letter (bit 6).
		nibbles := x&(ones*0x0f) + 9*(x>>6&ones)
		pairs := (nibbles<<4 | nibbles>>8) & 0x00ff00ff00ff00ff
		pairs = (pairs | pairs>>8) & 0x0000ffff0000ffff
		binary.LittleEndian.PutUint32(out[4*i:], uint32(pairs|pairs>>16))
	}
	return true
}

// tally holds the counts of the whole snapshot.
type tally struct {
	labels

	series  map[seriesKey]uint64
	devices map[deviceKey]deviceState
	records int64
}

func newTally() *tally {
	return &tally{
		labels:  newLabels(),
		series:  make(map[seriesKey]uint64),
		devices: make(map[deviceKey]deviceState),
	}
}

// mergeFrom adds the counts of part p to t, translating p's label ids into t's.
func (t *tally) mergeFrom(p *partTally) {
	profiles := translate(&t.profiles, p.profiles)
	configurations := translate(&t.configurations, p.configurations)
	groups := translate(&t.groups, p.groups)
	platforms := translate(&t.platforms, p.platforms)

	for _, s := range p.series {
		k := s.key
		k.profile, k.configuration = profiles[k.profile], configurations[k.configuration]
		k.group, k.platform = groups[k.group], platforms[k.platform]
		t.series[k] += s.count
	}

	for _, d := range p.devices {
		labels := p.contexts[d.context].key
		k := deviceKey{device: deviceBytes([]byte(d.id)), profile: profiles[labels.profile]}
		s := d.state
		s.group, s.platform = groups[labels.group], platforms[labels.platform]
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
	// spare holds committed parts' tallies, emptied, for the next parts.
	spare []*partTally
}

// NewAggregator returns an empty Aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{total: newTally()}
}

// BeginPart implements client.Sink.
func (g *Aggregator) BeginPart() client.PartSink {
	g.mu.Lock()
	defer g.mu.Unlock()

	if n := len(g.spare); n > 0 {
		p := g.spare[n-1]
		g.spare = g.spare[:n-1]
		return p
	}
	return newPartTally()
}

// CommitPart implements client.Sink.
func (g *Aggregator) CommitPart(p client.PartSink) {
	part := p.(*partTally)

	g.mu.Lock()
	defer g.mu.Unlock()

	g.total.mergeFrom(part)
	part.reset()
	g.spare = append(g.spare, part)
}

// Records returns the number of records committed so far.
func (g *Aggregator) Records() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total.records
}
