package simulator

import "strings"

// ref names one record: a device, a profile and a configuration.
type ref struct {
	device, profile, config int32
}

// recordShape is the odd shape of one record, if any.
type recordShape int

const (
	recordNormal recordShape = iota
	recordNullSource
	recordNullCurrentValue
	recordNoCollectionTime
	recordExtraKey
	recordStringNumbers
	// The shapes below only occur on records that are not applicable.
	recordNoCompliantKey
	recordCompliantNotApplicable
	recordShapes
)

// applicableShapes is the number of shapes, from recordNullSource on, that any
// record may take.
const applicableShapes = int(recordNoCompliantKey) - 1

// facts are what the generator decided for one record.
type facts struct {
	applicable bool
	compliant  bool // meaningful only when applicable
	exempt     bool
	shape      recordShape
}

// status is a record's status, as the exporter labels it.
type status int

const (
	compliant status = iota
	nonCompliant
	notApplicable
	statuses
)

// Status label values.
const (
	statusCompliant     = "compliant"
	statusNonCompliant  = "non_compliant"
	statusNotApplicable = "not_applicable"
)

var statusNames = [statuses]string{statusCompliant, statusNonCompliant, statusNotApplicable}

// status is the status the exporter gives the record.
func (f facts) status() status {
	switch {
	case !f.applicable:
		return notApplicable
	case f.compliant:
		return compliant
	}
	return nonCompliant
}

// rollUp returns the rollup of a (device, profile) pair after one more record:
// non-compliant if any applicable record fails, else compliant if any is
// applicable, else not applicable.
func (s status) rollUp(record status) status {
	if record == nonCompliant || (record == compliant && s == notApplicable) {
		return record
	}
	return s
}

// facts draws the record r. It is a pure function of the seed and r, so the
// files, the JSON pages and the expected counts agree without sharing state.
func (g *generation) facts(r ref) facts {
	h := mix(g.key, streamRecord<<48|uint64(r.device), uint64(r.profile)<<32|uint64(r.config))
	var f facts
	f.applicable = unit(h) >= g.opts.NotApplicableShare

	h = mix64(h + golden)
	f.compliant = f.applicable && unit(h) >= g.ncProb[r.config]*g.risk(r.device)
	f.exempt = f.applicable && h&0x1ff == 0

	h = mix64(h + golden)
	if unit(h) < g.opts.OddShare {
		n := uint64(applicableShapes)
		if !f.applicable {
			n = uint64(recordShapes) - 1
		}
		f.shape = recordShape(1 + (h&0xffff)%n)
	}
	return f
}

// risk spreads non-compliance unevenly over devices, as in real fleets: most
// failures sit on a minority of neglected devices, while hardened ones pass
// every configuration. The factor averages 1, so NonCompliantShare holds.
func (g *generation) risk(device int32) float64 {
	u := unit(mix(g.key, streamRisk, uint64(device)))
	return 3 * u * u
}

// count computes the expected aggregates by walking the generator, never the
// encoded records.
func (g *generation) count() {
	nc := len(g.configurations)
	ng := len(g.groups)
	perRecord := make([]int, len(g.profiles)*nc*ng*int(statuses))
	perDevice := make([]int, len(g.profiles)*ng*int(statuses))

	for di := range g.devices {
		d := &g.devices[di]
		for _, p := range g.platformProfiles[d.platform] {
			if len(g.profileConfigs[p]) == 0 {
				continue // no records, so no rollup either
			}
			rollup := notApplicable
			for _, c := range g.profileConfigs[p] {
				s := g.facts(ref{device: int32(di), profile: p, config: c}).status()
				perRecord[((int(p)*nc+int(c))*ng+d.group)*int(statuses)+int(s)]++
				rollup = rollup.rollUp(s)
			}
			perDevice[(int(p)*ng+d.group)*int(statuses)+int(rollup)]++
		}
	}

	g.expected = Expected{
		Records:        g.records,
		Devices:        make(map[SeriesKey]int),
		ProfileDevices: make(map[ProfileSeriesKey]int),
	}
	g.fillDevices(perRecord)
	g.fillProfileDevices(perDevice)
}

// fillDevices turns the dense per-record counts into Expected.Devices.
func (g *generation) fillDevices(counts []int) {
	nc := len(g.configurations)
	ng := len(g.groups)
	ns := int(statuses)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		s, gi, c, p := i%ns, i/ns%ng, i/ns/ng%nc, i/ns/ng/nc
		key := SeriesKey{
			ProfileID:       g.profiles[p].ID,
			ConfigurationID: g.configurations[c].ID,
			RbacGroup:       labelOr(g.groups[gi].name, "Unassigned"),
			OSPlatform:      labelOr(g.profiles[p].OSPlatform, "Unknown"),
			Status:          statusNames[s],
		}
		g.expected.Devices[key] += n
	}
}

// fillProfileDevices turns the dense rollup counts into Expected.ProfileDevices,
// and the profiles' device totals.
func (g *generation) fillProfileDevices(counts []int) {
	ng := len(g.groups)
	ns := int(statuses)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		s, gi, p := i%ns, i/ns%ng, i/ns/ng
		key := ProfileSeriesKey{
			ProfileID:  g.profiles[p].ID,
			RbacGroup:  labelOr(g.groups[gi].name, "Unassigned"),
			OSPlatform: labelOr(g.profiles[p].OSPlatform, "Unknown"),
			Status:     statusNames[s],
		}
		g.expected.ProfileDevices[key] += n
		g.profiles[p].TotalDevices += n
		if status(s) == compliant {
			g.profiles[p].PassedDevices += n
		}
	}
}

// labelOr is the exporter's label for a name: def when it is empty.
func labelOr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}
