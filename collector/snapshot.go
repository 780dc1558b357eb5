package collector

import (
	"slices"
	"strings"
	"time"

	"github.com/mde-exporter/mde_exporter/client"
)

// Series is one sample of a snapshot: label values in the order of its Desc.
type Series struct {
	Labels []string
	Value  float64
}

// Snapshot is one complete, immutable view of the tenant's baseline compliance.
// It is built once per successful refresh and then only read.
type Snapshot struct {
	// Devices holds mde_baseline_devices:
	// profile_id, configuration_id, rbac_group, os_platform, status.
	Devices []Series
	// ProfileDevices holds mde_baseline_profile_devices:
	// profile_id, rbac_group, os_platform, status.
	ProfileDevices []Series
	// ProfileInfo holds mde_baseline_profile_info label values.
	ProfileInfo [][]string
	// ConfigurationInfo holds mde_baseline_configuration_info label values.
	ConfigurationInfo [][]string

	// Records is the number of assessment records counted.
	Records int64
	// GeneratedTime is when Defender generated the export; zero when unknown
	// (the JSON API does not say).
	GeneratedTime time.Time
	// CompletedAt is when the refresh that built the snapshot finished.
	CompletedAt time.Time

	exposition exposition
}

// Snapshot builds the immutable snapshot of everything committed so far, with
// names from the given profiles and configurations.
func (g *Aggregator) Snapshot(profiles []client.Profile, configurations []client.Configuration, generated time.Time) *Snapshot {
	g.mu.Lock()
	defer g.mu.Unlock()

	t := g.total
	snap := &Snapshot{
		Devices:        deviceSeries(t),
		ProfileDevices: profileSeries(t),
		Records:        t.records,
		GeneratedTime:  generated,
	}
	snap.ProfileInfo, snap.ConfigurationInfo = infoLabels(t, profiles, configurations)
	return snap
}

func deviceSeries(t *tally) []Series {
	out := make([]Series, 0, len(t.series))
	for k, n := range t.series {
		out = append(out, Series{
			Labels: []string{
				t.profiles.values[k.profile],
				t.configurations.values[k.configuration],
				t.groups.values[k.group],
				t.platforms.values[k.platform],
				statusNames[k.status],
			},
			Value: float64(n),
		})
	}
	sortSeries(out)
	return out
}

type profileKey struct {
	profile, group, platform uint32
	status                   uint8
}

func profileSeries(t *tally) []Series {
	counts := make(map[profileKey]uint64)
	for k, s := range t.devices {
		counts[profileKey{k.profile, s.group, s.platform, s.rollup()}]++
	}

	out := make([]Series, 0, len(counts))
	for k, n := range counts {
		out = append(out, Series{
			Labels: []string{
				t.profiles.values[k.profile],
				t.groups.values[k.group],
				t.platforms.values[k.platform],
				statusNames[k.status],
			},
			Value: float64(n),
		})
	}
	sortSeries(out)
	return out
}

// sortSeries orders series by their labels, so that output is stable.
func sortSeries(s []Series) {
	slices.SortFunc(s, func(a, b Series) int {
		return slices.Compare(a.Labels, b.Labels)
	})
}

// infoLabels returns the label values of the profile and configuration info
// metrics: every profile the API lists, and every (profile, configuration) pair
// seen in the records whose configuration could be found by name.
func infoLabels(t *tally, profiles []client.Profile, configurations []client.Configuration) (profileInfo, configInfo [][]string) {
	byID := make(map[string]client.Profile, len(profiles))
	for _, p := range profiles {
		byID[p.ID] = p
		profileInfo = append(profileInfo, []string{
			p.ID, p.Name, p.Benchmark, p.Version, p.OperatingSystem,
			p.OperatingSystemVersion, p.ComplianceLevel, boolLabel(p.Status),
		})
	}
	slices.SortFunc(profileInfo, slices.Compare)

	configsByID := make(map[string][]client.Configuration)
	for _, c := range configurations {
		configsByID[c.ID] = append(configsByID[c.ID], c)
	}

	seen := make(map[[2]uint32]bool)
	for k := range t.series {
		pair := [2]uint32{k.profile, k.configuration}
		if seen[pair] {
			continue
		}
		seen[pair] = true

		profileID := t.profiles.values[k.profile]
		configID := t.configurations.values[k.configuration]
		c, ok := matchConfiguration(byID[profileID], configsByID[configID])
		if !ok {
			continue
		}
		configInfo = append(configInfo, []string{
			profileID, configID, c.Name, c.Category, c.BenchmarkName, c.BenchmarkVersion, c.CCE,
		})
	}
	slices.SortFunc(configInfo, slices.Compare)
	return profileInfo, configInfo
}

// matchConfiguration picks, among configurations that share an id, the one that
// belongs to profile p. Benchmark item ids such as "1.1.1" repeat across
// benchmarks, so the benchmark name, the version and the operating system of the
// profile decide; ties go to the lowest unique id, so the choice is stable.
//
// TODO: the API does not link a configuration to its profiles, so this is a best
// match on names; a configuration whose benchmark names no operating system can be
// attributed to the wrong profile when one tenant runs two versions of a benchmark.
func matchConfiguration(p client.Profile, candidates []client.Configuration) (client.Configuration, bool) {
	if len(candidates) == 0 {
		return client.Configuration{}, false
	}

	best, bestScore := candidates[0], -1
	for _, c := range candidates {
		score := matchScore(p, c)
		if score > bestScore || (score == bestScore && c.UniqueID < best.UniqueID) {
			best, bestScore = c, score
		}
	}
	return best, true
}

func matchScore(p client.Profile, c client.Configuration) int {
	score := 0
	if p.Benchmark != "" && strings.EqualFold(p.Benchmark, c.BenchmarkName) {
		score += 4
	}
	version := strings.ToLower(c.BenchmarkVersion)
	if p.Version != "" && strings.HasPrefix(version, strings.ToLower(p.Version)) {
		score += 2
	}
	if system := alphanumeric(p.OperatingSystem + p.OperatingSystemVersion); system != "" && strings.Contains(alphanumeric(version), system) {
		score++
	}
	return score
}

// alphanumeric lower-cases s and keeps only its letters and digits, so that
// "Windows Server" "2022" matches "3.0.0-windows_server_2022".
func alphanumeric(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return -1
	}, s)
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
