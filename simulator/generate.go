package simulator

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// generation is the generated content of a tenant: its catalog, its devices and
// the layout and bytes of its export files. It never changes once built, so
// snapshots share it and handlers read it without locks.
type generation struct {
	opts    Options
	key     uint64    // hash key derived from the seed
	created time.Time // record timestamps lie before it
	orgID   string
	jobID   string // the Spark job id in every part file name

	profiles         []Profile
	profilePlatform  []int     // per profile, index into platforms
	profileConfigs   [][]int32 // per profile, indices into configurations
	platformProfiles [][]int32 // per platform, the profiles that target it
	configurations   []Configuration
	configFrags      []configFrag
	ncProb           []float64 // per configuration, the chance an applicable record fails

	devices   []device
	groups    []group
	parts     []part
	partIndex map[string]int // part by blob path suffix
	records   int

	expected Expected
}

// device is one machine of the tenant.
type device struct {
	id        string
	name      string // the name as meant, "" when the service sends null
	platform  int
	osVersion string
	group     int
	odd       deviceShape

	collected  time.Time
	calculated time.Time

	// JSON values written into every record of the device.
	nameJSON       []byte
	collectedJSON  []byte
	calculatedJSON []byte
}

// deviceShape is the odd shape a device's records share, if any.
type deviceShape int

const (
	deviceNormal deviceShape = iota
	deviceNullName
	devicePaddedName
	deviceEscapedName
	deviceUnassigned
	deviceShapes
)

// group is an RBAC device group and the records of its devices, which are one
// folder of the export.
type group struct {
	id      string // decimal id, or "Unassigned"
	name    string
	idJSON  []byte // 86 or "Unassigned"
	devices []int32
	starts  []int // record offset of each device in the group, then the total
}

// part is one export file: a run of one group's records.
type part struct {
	group  int
	first  int     // offset of its first record in the group
	count  int     // 0 for the empty blobs
	perm   []int32 // line order when shuffled
	number int
	suffix string // blob path below the snapshot's time path
	gz     []byte
}

// ref names one record: a device, a profile and a configuration.
type ref struct {
	device, profile, config int32
}

// Hash streams keep the draws for different purposes independent.
const (
	streamDevice uint64 = iota + 1
	streamRecord
	streamConfig
	streamCCE
	streamShuffle
	streamIDs
	streamContainer
	streamSAS
	streamToken
)

// newGeneration generates the tenant described by opts. created is the time its
// data was collected by.
func newGeneration(opts Options, created time.Time) *generation {
	g := &generation{
		opts:    opts,
		key:     mix64(uint64(opts.Seed) ^ 0x6d64655f73696d75),
		created: created,
	}
	ids := rand.New(rand.NewPCG(g.key, streamIDs))
	g.orgID = newGUID(ids)
	g.jobID = newGUID(ids)

	g.addProfiles(ids)
	g.addDevices()
	g.layoutParts()
	g.buildParts()
	g.count()
	return g
}

// addProfiles creates the profiles from the templates, and the configurations
// their benchmarks assess.
func (g *generation) addProfiles(ids *rand.Rand) {
	g.platformProfiles = make([][]int32, len(platforms))
	byUniqueID := make(map[string]int32)

	for i := range g.opts.Profiles {
		tpl := profileTemplates[i%len(profileTemplates)]
		round := i / len(profileTemplates)
		pf := platforms[tpl.platform]

		p := Profile{
			ID:                     newGUID(ids),
			Name:                   tpl.name,
			Description:            "Assesses " + pf.os + " " + pf.osVersion + " devices against the " + tpl.benchmark + " benchmark.",
			Benchmark:              tpl.benchmark,
			Version:                tpl.version,
			OperatingSystem:        pf.os,
			OperatingSystemVersion: pf.osVersion,
			OSPlatform:             pf.name,
			Status:                 true,
			ComplianceLevel:        tpl.level,
			SettingsNumber:         g.opts.ConfigurationsPerProfile,
			CreatedBy:              "secops-admin@contoso.onmicrosoft.com",
		}
		if round > 0 {
			p.Name += " (Level 2, " + strconv.Itoa(round) + ")"
			p.ComplianceLevel = strings.Replace(p.ComplianceLevel, "Level 1", "Level 2", 1)
		}
		g.stampProfile(&p, i)

		var configs []int32
		for k := range g.opts.ConfigurationsPerProfile {
			c := g.configuration(tpl, k)
			idx, ok := byUniqueID[c.UniqueID]
			if !ok {
				idx = int32(len(g.configurations))
				byUniqueID[c.UniqueID] = idx
				g.configurations = append(g.configurations, c)
				g.configFrags = append(g.configFrags, newConfigFrag(c, catalogItem(k)))
			}
			configs = append(configs, idx)
			p.ConfigurationUniqueIDs = append(p.ConfigurationUniqueIDs, c.UniqueID)
		}

		g.platformProfiles[tpl.platform] = append(g.platformProfiles[tpl.platform], int32(i))
		g.profiles = append(g.profiles, p)
		g.profilePlatform = append(g.profilePlatform, tpl.platform)
		g.profileConfigs = append(g.profileConfigs, configs)
	}

	g.ncProb = make([]float64, len(g.configurations))
	for i := range g.configurations {
		spread := 0.25 + 1.5*unit(mix(g.key, streamConfig, uint64(i)))
		g.ncProb[i] = min(g.opts.NonCompliantShare*spread, 1)
	}
}

// stampProfile sets the profile's dates. Half the profiles come with dates and
// an editor; the other half carry the zero dates and null editor of
// Microsoft's example, under the example's field names.
func (g *generation) stampProfile(p *Profile, i int) {
	if i%2 == 1 {
		return
	}
	h := mix(g.key, streamIDs, uint64(i))
	p.CreatedOn = g.created.Add(-time.Duration(40+h%300) * 24 * time.Hour).Add(time.Duration(h%86_400_000) * time.Millisecond)
	p.LastUpdated = p.CreatedOn.Add(time.Duration(1+h%30) * 24 * time.Hour)
	p.LastUpdatedBy = "baseline-owner@contoso.onmicrosoft.com"
}

// configuration returns the k-th item of the template's benchmark.
func (g *generation) configuration(tpl profileTemplate, k int) Configuration {
	it := catalogItem(k)
	pf := platforms[tpl.platform]
	version := tpl.version + "-" + pf.slug

	id := it.id
	if tpl.benchmark == "STIG" {
		id = stigID(pf, it, k)
	}
	uniqueID := tpl.benchmark + "_" + version + "_" + id
	setting := strings.TrimPrefix(strings.TrimPrefix(it.name, "(L1) "), "(L2) ")

	return Configuration{
		UniqueID:         uniqueID,
		ID:               id,
		BenchmarkName:    tpl.benchmark,
		BenchmarkVersion: version,
		Name:             it.name,
		Description:      "<p>This policy setting is assessed as: " + htmlText(setting) + ".</p>",
		Category:         it.category,
		ComplianceLevels: complianceLevels(tpl, pf, it),
		CCE:              g.cce(uniqueID),
		Rationale:        "<p>Devices that deviate from the recommended value of this setting are easier to attack.</p>",
		Remediation: "<div><p>To establish the recommended configuration, set the following setting to the recommended value:</p>" +
			"<p><code>Computer Configuration\\Policies\\" + htmlText(it.category) + "</code></p></div>",
		Source:           it.source,
		RecommendedValue: it.recommended,
		IsCustom:         false,
	}
}

// catalogItem returns the k-th benchmark item, made up from the Administrative
// Templates settings once the written catalog is used up.
func catalogItem(k int) item {
	if k < len(items) {
		return items[k]
	}
	j := k - len(items)
	setting := templateSettings[j%len(templateSettings)]
	key := strings.ToLower(strings.ReplaceAll(setting, " ", ""))
	return item{
		id:          "18.10." + strconv.Itoa(20+j/8) + "." + strconv.Itoa(j%8+1),
		name:        "(L1) Ensure '" + setting + "' is set to 'Enabled'",
		category:    "Administrative Templates (Computer)",
		source:      []string{regPolicies + `windows\` + key},
		recommended: []string{"Equals '1'"},
		good:        []string{"1"},
		bad:         []string{"0"},
	}
}

// stigID makes a STIG rule id such as WN11-SO-000040.
func stigID(pf platform, it item, k int) string {
	area, ok := stigCategories[it.category]
	if !ok {
		area = "CC"
	}
	n := strconv.Itoa((k + 1) * 5)
	return pf.stig + "-" + area + "-" + strings.Repeat("0", 6-len(n)) + n
}

func complianceLevels(tpl profileTemplate, pf platform, it item) []string {
	switch {
	case tpl.benchmark == "STIG":
		return []string{levelSTIG}
	case pf.server:
		return []string{"Level 1 - Domain Controller", "Level 1 - Member Server"}
	case strings.HasPrefix(it.name, "(L2)"):
		return []string{"Level 2 (L2) - High Security/Sensitive Data Environment (limited functionality)"}
	}
	return []string{levelWorkstation}
}

// cce makes a Common Configuration Enumeration id such as CCE-35116-3.
func (g *generation) cce(uniqueID string) string {
	h := mix(g.key, streamCCE, hashString(uniqueID))
	return "CCE-" + strconv.FormatUint(10000+h%90000, 10) + "-" + strconv.FormatUint((h>>32)%10, 10)
}

// addDevices creates the devices and puts each in a group that suits its platform.
func (g *generation) addDevices() {
	used := g.usedPlatforms()
	for i := range g.opts.RbacGroups {
		g.groups = append(g.groups, newGroup(i))
	}
	if len(g.groups) == 0 {
		g.groups = append(g.groups, group{id: "None", name: "None", idJSON: []byte(`"None"`)})
	}
	unassigned := -1

	for i := range g.opts.Devices {
		d := g.newDevice(i, used)
		if d.odd == deviceUnassigned {
			if unassigned < 0 {
				unassigned = len(g.groups)
				g.groups = append(g.groups, group{id: "Unassigned", name: "UnassignedGroup", idJSON: []byte(`"Unassigned"`)})
			}
			d.group = unassigned
		}
		g.devices = append(g.devices, d)
		g.groups[d.group].devices = append(g.groups[d.group].devices, int32(i))
	}
}

// usedPlatforms returns the platforms some profile targets, the only ones
// whose devices have records.
func (g *generation) usedPlatforms() []int {
	var used []int
	for i, ps := range g.platformProfiles {
		if len(ps) > 0 {
			used = append(used, i)
		}
	}
	return used
}

func newGroup(i int) group {
	if i < len(groupTemplates) {
		t := groupTemplates[i]
		id := strconv.Itoa(t.id)
		return group{id: id, name: t.name, idJSON: []byte(id)}
	}
	id := strconv.Itoa(300 + i)
	return group{id: id, name: "Group-" + strconv.Itoa(i+1), idJSON: []byte(id)}
}

// newDevice draws device i.
func (g *generation) newDevice(i int, used []int) device {
	h := func(n uint64) uint64 { return mix(g.key, streamDevice, uint64(i)<<8|n) }

	d := device{
		id:       hex16(h(1)) + hex16(h(2)) + hex16(h(3))[:8],
		platform: pickPlatform(used, unit(h(4))),
	}
	pf := platforms[d.platform]
	d.osVersion = pf.builds[h(5)%uint64(len(pf.builds))]
	d.group = g.pickGroup(pf.server, h(6))
	if unit(h(7)) < g.opts.OddShare {
		d.odd = deviceShape(1 + h(8)%uint64(deviceShapes-1))
	}

	d.collected = g.created.Add(-time.Duration(h(9)%(36*3_600_000)) * time.Millisecond)
	d.calculated = d.collected.Add(time.Duration(h(10)%(45*60_000)) * time.Millisecond)
	if d.calculated.After(g.created) {
		d.calculated = g.created
	}

	d.name = g.deviceName(i, d)
	d.nameJSON = deviceNameJSON(d)
	d.collectedJSON = appendTime(nil, d.collected)
	d.calculatedJSON = appendTime(nil, d.calculated)
	return d
}

// pickPlatform picks a platform by weight; without profiles any will do.
func pickPlatform(used []int, u float64) int {
	if len(used) == 0 {
		return 0
	}
	total := 0.0
	for _, p := range used {
		total += platforms[p].weight
	}
	u *= total
	for _, p := range used {
		u -= platforms[p].weight
		if u < 0 {
			return p
		}
	}
	return used[len(used)-1]
}

// pickGroup puts servers in server groups and workstations in the others, when
// the tenant has such groups.
func (g *generation) pickGroup(server bool, h uint64) int {
	var fit []int
	for i := range g.opts.RbacGroups {
		if i >= len(groupTemplates) || groupTemplates[i].server == server {
			fit = append(fit, i)
		}
	}
	if len(fit) == 0 {
		return int(h % uint64(len(g.groups)))
	}
	return fit[h%uint64(len(fit))]
}

// deviceName makes the FQDN of device i, e.g. ws-eu-00042.corp.contoso.com.
func (g *generation) deviceName(i int, d device) string {
	kind := "ws"
	if platforms[d.platform].server {
		kind = "srv"
	}
	region := "hq"
	if name := g.groups[d.group].name; name == "Domain Controllers" {
		kind = "dc"
	} else if _, r, ok := strings.Cut(name, "-"); ok {
		region = strings.ToLower(r)
	}
	n := strconv.Itoa(i)
	host := kind + "-" + region + "-" + strings.Repeat("0", max(5-len(n), 0)) + n

	switch d.odd {
	case deviceNullName:
		return ""
	case devicePaddedName:
		return " " + host + ".corp.contoso.com "
	case deviceEscapedName:
		return "kiosk-café-\"lobby\"-" + n + ".corp.contoso.com"
	}
	return host + ".corp.contoso.com"
}

// layoutParts cuts every group's records into parts of at most PartRecords,
// after the empty blobs, and names their files.
func (g *generation) layoutParts() {
	for i := range g.opts.EmptyParts {
		if len(g.groups) > 0 {
			g.parts = append(g.parts, part{group: i % len(g.groups)})
		}
	}

	for gi := range g.groups {
		gr := &g.groups[gi]
		gr.starts = make([]int, 0, len(gr.devices)+1)
		total := 0
		for _, d := range gr.devices {
			gr.starts = append(gr.starts, total)
			total += len(g.platformProfiles[g.devices[d].platform]) * g.opts.ConfigurationsPerProfile
		}
		gr.starts = append(gr.starts, total)
		g.records += total

		for first := 0; first < total; first += g.opts.PartRecords {
			g.parts = append(g.parts, part{group: gi, first: first, count: min(g.opts.PartRecords, total-first)})
		}
	}

	for i := range g.parts {
		p := &g.parts[i]
		p.number = i
		p.suffix = "BaselineAssessmentExport/json/OrgId=" + g.orgID + "/_RbacGroupId=" + g.groups[p.group].id +
			"/part-" + pad5(i) + "-" + g.jobID + ".c000.json.gz"
		if g.opts.Shuffle && p.count > 1 {
			p.perm = permutation(p.count, rand.New(rand.NewPCG(g.key, streamShuffle<<32|uint64(i))))
		}
	}
}

func permutation(n int, r *rand.Rand) []int32 {
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	r.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	return perm
}

// locate returns the record on line n of part p.
func (g *generation) locate(p *part, n int) ref {
	if p.perm != nil {
		n = int(p.perm[n])
	}
	off := p.first + n
	gr := &g.groups[p.group]
	k := sort.Search(len(gr.devices), func(i int) bool { return gr.starts[i+1] > off })
	d := gr.devices[k]
	rem := off - gr.starts[k]

	perProfile := g.opts.ConfigurationsPerProfile
	prof := g.platformProfiles[g.devices[d].platform][rem/perProfile]
	return ref{device: d, profile: prof, config: g.profileConfigs[prof][rem%perProfile]}
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

// Status values, as the exporter's status label.
const (
	statusCompliant     = "compliant"
	statusNonCompliant  = "non_compliant"
	statusNotApplicable = "not_applicable"
)

// status is 0 for compliant, 1 for non-compliant and 2 for not applicable.
func (f facts) status() int {
	switch {
	case !f.applicable:
		return 2
	case f.compliant:
		return 0
	}
	return 1
}

var statusNames = [3]string{statusCompliant, statusNonCompliant, statusNotApplicable}

// facts draws the record r. It is a pure function of the seed and r, so the
// files, the JSON pages and the expected counts agree without sharing state.
func (g *generation) facts(r ref) facts {
	h := mix(g.key, streamRecord<<48|uint64(r.device), uint64(r.profile)<<32|uint64(r.config))
	var f facts
	f.applicable = unit(h) >= g.opts.NotApplicableShare

	h = mix64(h + golden)
	f.compliant = f.applicable && unit(h) >= g.ncProb[r.config]
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

// count computes the expected aggregates by walking the generator, never the
// encoded records.
func (g *generation) count() {
	nc := len(g.configurations)
	ng := len(g.groups)
	perRecord := make([]int, len(g.profiles)*nc*ng*3)
	perDevice := make([]int, len(g.profiles)*ng*3)

	for di := range g.devices {
		d := &g.devices[di]
		for _, p := range g.platformProfiles[d.platform] {
			if len(g.profileConfigs[p]) == 0 {
				continue // no records, so no rollup either
			}
			rollup := 2
			for _, c := range g.profileConfigs[p] {
				s := g.facts(ref{device: int32(di), profile: p, config: c}).status()
				perRecord[((int(p)*nc+int(c))*ng+d.group)*3+s]++
				if s == 1 || (s == 0 && rollup == 2) {
					rollup = s
				}
			}
			perDevice[(int(p)*ng+d.group)*3+rollup]++
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

func (g *generation) fillDevices(counts []int) {
	nc := len(g.configurations)
	ng := len(g.groups)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		s, gi, c, p := i%3, i/3%ng, i/3/ng%nc, i/3/ng/nc
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

func (g *generation) fillProfileDevices(counts []int) {
	ng := len(g.groups)
	for i, n := range counts {
		if n == 0 {
			continue
		}
		s, gi, p := i%3, i/3%ng, i/3/ng
		key := ProfileSeriesKey{
			ProfileID:  g.profiles[p].ID,
			RbacGroup:  labelOr(g.groups[gi].name, "Unassigned"),
			OSPlatform: labelOr(g.profiles[p].OSPlatform, "Unknown"),
			Status:     statusNames[s],
		}
		g.expected.ProfileDevices[key] += n
		g.profiles[p].TotalDevices += n
		if s == 0 {
			g.profiles[p].PassedDevices += n
		}
	}
}

// htmlText escapes s for the HTML fragments of a configuration.
var htmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

func labelOr(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// golden is the increment of splitmix64.
const golden = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finalizer: a fast, well-spread 64-bit hash.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// mix hashes two words under key.
func mix(key, a, b uint64) uint64 {
	return mix64(key ^ mix64(a*golden+b))
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 {
	return float64(h>>11) / (1 << 53)
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

func hex16(x uint64) string {
	s := strconv.FormatUint(x, 16)
	return strings.Repeat("0", 16-len(s)) + s
}

func pad5(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", max(5-len(s), 0)) + s
}

// newGUID draws a version-4 style GUID.
func newGUID(r *rand.Rand) string {
	return guid(r.Uint64(), r.Uint64())
}

// guid formats 128 bits as a version-4 style GUID.
func guid(a, b uint64) string {
	s := hex16(a) + hex16(b&^(0xf<<60)|0x8<<60)
	return s[:8] + "-" + s[8:12] + "-4" + s[13:16] + "-" + s[16:20] + "-" + s[20:]
}
