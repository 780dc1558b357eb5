package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// wantUIDs lists the shipped dashboards and their fixed uids. Links between
// dashboards use these uids, so they must not change.
var wantUIDs = map[string]string{
	"mde-baseline-overview.json": "mde-baseline-overview",
	"mde-baseline-profile.json":  "mde-baseline-profile",
	"mde-exporter-health.json":   "mde-exporter-health",
}

// exporterMetrics are the metric names mde_exporter publishes (see the design
// notes), plus up, which Prometheus records for every scrape.
var exporterMetrics = []string{
	"mde_baseline_devices",
	"mde_baseline_profile_devices",
	"mde_baseline_profile_info",
	"mde_baseline_configuration_info",
	"mde_exporter_refresh_success",
	"mde_exporter_refresh_duration_seconds",
	"mde_exporter_refreshes_total",
	"mde_exporter_refresh_failures_total",
	"mde_exporter_last_refresh_success_timestamp_seconds",
	"mde_exporter_snapshot_generated_timestamp_seconds",
	"mde_exporter_snapshot_loaded",
	"mde_exporter_snapshot_records",
	"mde_exporter_records_processed_total",
	"mde_exporter_build_info",
	"mde_exporter_api_requests_total",
	"mde_exporter_api_throttled_total",
	"mde_exporter_api_throttled_wait_seconds_total",
	"mde_exporter_api_retries_total",
	"mde_exporter_rate_limiter_wait_seconds_total",
	"mde_exporter_token_failures_total",
	"mde_exporter_sas_url_refreshes_total",
	"mde_exporter_export_downloaded_bytes_total",
	"up",
}

// perDeviceMetrics carry the rbac_group and os_platform labels, so the
// dashboards that have those variables must filter them on them.
var perDeviceMetrics = []string{"mde_baseline_devices", "mde_baseline_profile_devices"}

var allowedPanelTypes = []string{"timeseries", "table", "stat", "bargauge"}

type board struct {
	file string
	raw  []byte

	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Query      any    `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Datasource *dsRef `json:"datasource"`
}

type panel struct {
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  *dsRef `json:"datasource"`
	GridPos     struct {
		X, Y, W, H int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []target `json:"targets"`
}

type target struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Instant    bool   `json:"instant"`
	Range      bool   `json:"range"`
	Datasource *dsRef `json:"datasource"`
}

func (v variable) queryString() string {
	s, _ := v.Query.(string)
	return s
}

func (b *board) variable(name string) (variable, bool) {
	for _, v := range b.Templating.List {
		if v.Name == name {
			return v, true
		}
	}
	return variable{}, false
}

func loadBoards(t *testing.T) []*board {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	var boards []*board
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b := &board{file: f, raw: raw}
		if err := json.Unmarshal(raw, b); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		boards = append(boards, b)
	}
	if len(boards) != len(wantUIDs) {
		t.Fatalf("found %d dashboards (%v), want %d", len(boards), files, len(wantUIDs))
	}
	return boards
}

// strictDecode decodes a dashboard into the Grafana Foundation SDK types and
// fails on any field they do not know. DisallowUnknownFields alone stops at
// the SDK's custom unmarshalers (panels, targets, options), so the SDK's own
// UnmarshalJSONStrict does the recursive work, and fieldConfig, which it
// decodes leniently, is decoded again on its own.
func strictDecode(raw []byte) error {
	plugins.RegisterDefaultPlugins()

	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var top dashboard.Dashboard
	if err := dec.Decode(&top); err != nil {
		return fmt.Errorf("decode with unknown fields disallowed: %w", err)
	}

	var d dashboard.Dashboard
	if err := sdkError(d.UnmarshalJSONStrict(raw)); err != nil {
		return fmt.Errorf("strict decode: %w", err)
	}

	// The SDK drops decoded panels (its strict decoders return an empty
	// BuildErrors, not nil, on success), so decode each panel again here to
	// look at its queries, and decode fieldConfig, which Panel decodes
	// leniently, on its own.
	var panels struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &panels); err != nil {
		return err
	}
	var errs []error
	for i, rawPanel := range panels.Panels {
		var p dashboard.Panel
		if err := sdkError(p.UnmarshalJSONStrict(rawPanel)); err != nil {
			errs = append(errs, fmt.Errorf("panels[%d]: %w", i, err))
			continue
		}
		for j, q := range p.Targets {
			// A query without a known datasource type decodes leniently
			// into an UnknownDataquery: insist on Prometheus.
			if _, ok := q.(*prometheus.Dataquery); !ok {
				errs = append(errs, fmt.Errorf("panels[%d].targets[%d]: decoded as %T, not a Prometheus query", i, j, q))
			}
		}
		var fieldConfig struct {
			FieldConfig json.RawMessage `json:"fieldConfig"`
		}
		if err := json.Unmarshal(rawPanel, &fieldConfig); err != nil {
			return err
		}
		var fc dashboard.FieldConfigSource
		if err := sdkError(fc.UnmarshalJSONStrict(fieldConfig.FieldConfig)); err != nil {
			errs = append(errs, fmt.Errorf("panels[%d].fieldConfig: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// sdkError turns the empty cog.BuildErrors that the SDK's strict decoders
// return on success (a non-nil error interface) into nil.
func sdkError(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

func TestDashboardsDecodeStrictly(t *testing.T) {
	for _, b := range loadBoards(t) {
		if err := strictDecode(b.raw); err != nil {
			t.Errorf("%s: %v", b.file, err)
		}
	}
}

// TestStrictDecodeRejectsUnknownFields makes sure the strict decoding above
// would catch a field Grafana does not know, at every level it is used.
func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	raw, err := os.ReadFile("mde-baseline-overview.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(d map[string]any){
		"dashboard": func(d map[string]any) { d["iteration"] = 1 },
		"variable":  func(d map[string]any) { firstOf(d, "templating", "list")["bogus"] = 1 },
		"panel":     func(d map[string]any) { firstOf(d, "panels")["bogus"] = 1 },
		"options":   func(d map[string]any) { child(firstOf(d, "panels"), "options")["bogus"] = 1 },
		"target":    func(d map[string]any) { firstOf(firstOf(d, "panels"), "targets")["bogus"] = 1 },
		"fieldConfig": func(d map[string]any) {
			child(child(firstOf(d, "panels"), "fieldConfig"), "defaults")["bogus"] = 1
		},
		"target without datasource": func(d map[string]any) {
			delete(firstOf(firstOf(d, "panels"), "targets"), "datasource")
			delete(firstOf(d, "panels"), "datasource")
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatal(err)
			}
			mutate(d)
			mutated, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := strictDecode(mutated); err == nil {
				t.Error("strict decoding accepted the mutated dashboard")
			}
		})
	}
}

func child(m map[string]any, key string) map[string]any {
	return m[key].(map[string]any)
}

func firstOf(m map[string]any, path ...string) map[string]any {
	for _, key := range path[:len(path)-1] {
		m = child(m, key)
	}
	return m[path[len(path)-1]].([]any)[0].(map[string]any)
}

func TestDashboardConventions(t *testing.T) {
	uids := map[string]string{}
	for _, b := range loadBoards(t) {
		if want := wantUIDs[b.file]; b.UID != want {
			t.Errorf("%s: uid %q, want %q", b.file, b.UID, want)
		}
		if other, ok := uids[b.UID]; ok {
			t.Errorf("%s: uid %q already used by %s", b.file, b.UID, other)
		}
		uids[b.UID] = b.file
		if b.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d is older than Grafana 11", b.file, b.SchemaVersion)
		}
		checkNoExportLeftovers(t, b)
		checkVariables(t, b)
		checkPanels(t, b)
	}
}

func checkNoExportLeftovers(t *testing.T, b *board) {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(b.raw, &d); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"id", "iteration", "gnetId", "version", "__inputs", "__requires", "__elements"} {
		if _, ok := d[key]; ok {
			t.Errorf("%s: leftover %q from a UI export", b.file, key)
		}
	}
	for _, p := range d["panels"].([]any) {
		if _, ok := p.(map[string]any)["id"]; ok {
			t.Errorf("%s: panel %q has an id", b.file, p.(map[string]any)["title"])
		}
		if _, ok := p.(map[string]any)["pluginVersion"]; ok {
			t.Errorf("%s: panel %q pins a pluginVersion", b.file, p.(map[string]any)["title"])
		}
	}
	for _, v := range child(d, "templating")["list"].([]any) {
		for _, key := range []string{"current", "options"} {
			if _, ok := v.(map[string]any)[key]; ok {
				t.Errorf("%s: variable %q pins %q", b.file, v.(map[string]any)["name"], key)
			}
		}
	}
}

func checkVariables(t *testing.T, b *board) {
	t.Helper()
	ds, ok := b.variable("datasource")
	if !ok || ds.Type != "datasource" || ds.queryString() != "prometheus" {
		t.Errorf("%s: no datasource variable of type prometheus", b.file)
	}
	want := []string{"job", "instance"}
	if b.UID != wantUIDs["mde-exporter-health.json"] {
		want = append(want, "profile", "rbac_group", "os_platform")
	}
	for _, name := range want {
		v, ok := b.variable(name)
		switch {
		case !ok:
			t.Errorf("%s: no %s variable", b.file, name)
		case v.Type != "query" || !strings.HasPrefix(v.queryString(), "label_values("):
			t.Errorf("%s: variable %s is not a label_values query", b.file, name)
		case v.Datasource == nil || v.Datasource.UID != "${datasource}":
			t.Errorf("%s: variable %s does not use $datasource", b.file, name)
		case v.IncludeAll && v.AllValue == "":
			t.Errorf("%s: variable %s has an All option without allValue", b.file, name)
		}
	}
}

func checkPanels(t *testing.T, b *board) {
	t.Helper()
	var grid [24][200]string
	for _, p := range b.Panels {
		where := fmt.Sprintf("%s: panel %q", b.file, p.Title)
		if !slices.Contains(allowedPanelTypes, p.Type) {
			t.Errorf("%s: type %q is not one of %v", where, p.Type, allowedPanelTypes)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("%s: no unit", where)
		}
		if len(p.Description) < 80 || !strings.Contains(p.Description, "**How to read it:**") {
			t.Errorf("%s: the description must say what the panel shows and, after **How to read it:**, "+
				"how to read it", where)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: datasource is not $datasource", where)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refIDs := map[string]bool{}
		for _, q := range p.Targets {
			if q.Datasource == nil || q.Datasource.UID != "${datasource}" || q.Datasource.Type != "prometheus" {
				t.Errorf("%s: query %s does not use $datasource", where, q.RefID)
			}
			if q.RefID == "" || refIDs[q.RefID] {
				t.Errorf("%s: missing or repeated refId %q", where, q.RefID)
			}
			refIDs[q.RefID] = true
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 || g.Y+g.H > len(grid[0]) {
			t.Errorf("%s: gridPos %+v is off the grid", where, g)
			continue
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if grid[x][y] != "" {
					t.Errorf("%s: overlaps panel %q", where, grid[x][y])
					x, y = g.X+g.W, g.Y+g.H
					break
				}
				grid[x][y] = p.Title
			}
		}
	}
}

// grafanaIntervals replaces Grafana's interval macros with a duration so that
// the query parses. Template variables only appear inside label matcher
// strings, where PromQL takes them as they are.
var grafanaIntervals = strings.NewReplacer(
	"$__rate_interval", "5m",
	"$__interval", "5m",
	"$__range", "1h",
)

// promql parses with the stable function set only (no experimental functions).
var promql = parser.NewParser(parser.Options{})

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// recordingRules returns the names of the recording rules in rules.yml.
func recordingRules(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- record:\s*(\S+)\s*$`).FindAllSubmatch(raw, -1) {
		names = append(names, string(m[1]))
	}
	if len(names) == 0 {
		t.Fatal("rules.yml defines no recording rule")
	}
	return names
}

func selectors(expr parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// hasMatcher reports whether vs filters label on the template variable
// $variable, with = or =~.
func hasMatcher(vs *parser.VectorSelector, label, variable string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name != label || m.Value != "$"+variable {
			continue
		}
		if m.Type == labels.MatchRegexp || m.Type == labels.MatchEqual {
			return true
		}
	}
	return false
}

func TestDashboardQueries(t *testing.T) {
	known := append(slices.Clone(exporterMetrics), recordingRules(t)...)
	for _, b := range loadBoards(t) {
		_, filtersDevices := b.variable("rbac_group")
		_, filtersProfile := b.variable("profile")

		for _, v := range b.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValuesRE.FindStringSubmatch(v.queryString())
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(selector, label)", b.file, v.Name, v.queryString())
				continue
			}
			checkQuery(t, fmt.Sprintf("%s: variable %s", b.file, v.Name), m[1], known, nil)
		}

		for _, p := range b.Panels {
			for _, q := range p.Targets {
				where := fmt.Sprintf("%s: panel %q query %s", b.file, p.Title, q.RefID)
				checkQuery(t, where, q.Expr, known, func(expr parser.Expr) {
					sawBaseline, sawProfileFilter := false, false
					for _, vs := range selectors(expr) {
						if !hasMatcher(vs, "job", "job") || !hasMatcher(vs, "instance", "instance") {
							t.Errorf("%s: %s does not filter on $job and $instance", where, vs)
						}
						if filtersDevices && slices.Contains(perDeviceMetrics, vs.Name) &&
							(!hasMatcher(vs, "rbac_group", "rbac_group") || !hasMatcher(vs, "os_platform", "os_platform")) {
							t.Errorf("%s: %s does not filter on $rbac_group and $os_platform", where, vs)
						}
						sawBaseline = sawBaseline || strings.HasPrefix(vs.Name, "mde_baseline_")
						sawProfileFilter = sawProfileFilter ||
							vs.Name == "mde_baseline_profile_info" && hasMatcher(vs, "profile_name", "profile")
					}
					if filtersProfile && sawBaseline && !sawProfileFilter {
						t.Errorf("%s: does not join mde_baseline_profile_info{profile_name=~\"$profile\"}", where)
					}
				})
			}
		}
	}
}

func checkQuery(t *testing.T, where, query string, known []string, more func(parser.Expr)) {
	t.Helper()
	expr, err := promql.ParseExpr(grafanaIntervals.Replace(query))
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	for _, vs := range selectors(expr) {
		if !slices.Contains(known, vs.Name) {
			t.Errorf("%s: metric %q is neither published by the exporter nor recorded by rules.yml", where, vs.Name)
		}
	}
	if more != nil {
		more(expr)
	}
}
