package simulator

import (
	"math/rand/v2"
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

// newGeneration generates the tenant described by opts and compresses its
// export files. created is the time its data was collected by.
func newGeneration(opts Options, created time.Time) *generation {
	g := planGeneration(opts, created)
	g.buildParts()
	return g
}

// planGeneration generates the tenant described by opts, all but the bytes of
// its export files.
func planGeneration(opts Options, created time.Time) *generation {
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
			Description:            "Assesses " + pf.os + " " + pf.osVersion + " devices against " + tpl.benchmark + ".",
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
			p.Name += " - Level 2"
			p.ComplianceLevel = strings.Replace(p.ComplianceLevel, "Level 1", "Level 2", 1)
		}
		if round > 1 {
			p.Name += " #" + strconv.Itoa(round)
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
		Remediation: "<div><p>To establish the recommended configuration, set the following setting " +
			"to the recommended value:</p><p><code>Computer Configuration\\Policies\\" + htmlText(it.category) + "</code></p></div>",
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

// htmlText escapes s for the HTML fragments of a configuration.
var htmlText = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
