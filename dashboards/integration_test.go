package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// TestPrometheusIntegration runs every dashboard query and every rule through
// the HTTP API of a Prometheus that scrapes a running exporter and has loaded
// rules.yml and alerts.yml. integration-test.sh sets that up and passes its
// address in MDE_PROMETHEUS_URL.
func TestPrometheusIntegration(t *testing.T) {
	base := os.Getenv("MDE_PROMETHEUS_URL")
	if base == "" {
		t.Skip("MDE_PROMETHEUS_URL is not set (integration-test.sh sets it)")
	}
	c := &promClient{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}

	t.Run("dashboards", func(t *testing.T) {
		pick := pickSelection(t, c)
		t.Logf("selection: %v", pick)
		for _, b := range loadBoards(t) {
			t.Run(b.file, func(t *testing.T) {
				checkVariableValues(t, c, b, pick)
				for _, s := range []struct {
					name string
					vars map[string]string
				}{
					{"All", allSelection(b, pick)},
					{"one device group", pick},
				} {
					for _, p := range b.Panels {
						for _, q := range p.Targets {
							expr := substitute(q.Expr, s.vars)
							if err := c.hasData(expr, q.Instant); err != nil {
								t.Errorf("%s / panel %q / query %s: %v\n%s", s.name, p.Title, q.RefID, err, expr)
							}
						}
					}
				}
			})
		}
	})

	t.Run("rules", func(t *testing.T) {
		checkRules(t, c)
	})
}

type promClient struct {
	base string
	http *http.Client
}

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
}

func (c *promClient) get(path string, params url.Values) (json.RawMessage, error) {
	resp, err := c.http.Get(c.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %.200s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

type sample struct {
	Metric map[string]string `json:"metric"`
}

// query runs an instant query, or a range query over the last five minutes,
// and returns the series of the result.
func (c *promClient) query(expr string, instant bool) ([]sample, error) {
	now := time.Now()
	params := url.Values{"query": {expr}}
	path := "/api/v1/query"
	if !instant {
		path = "/api/v1/query_range"
		params.Set("start", strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10))
		params.Set("end", strconv.FormatInt(now.Unix(), 10))
		params.Set("step", "15")
	}
	data, err := c.get(path, params)
	if err != nil {
		return nil, err
	}
	var result struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &result); err != nil {
		return nil, err
	}
	if result.ResultType == "scalar" || result.ResultType == "string" {
		return []sample{{}}, nil
	}
	var series []sample
	if err := json.Unmarshal(result.Result, &series); err != nil {
		return nil, err
	}
	return series, nil
}

func (c *promClient) hasData(expr string, instant bool) error {
	series, err := c.query(expr, instant)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return errors.New("no data")
	}
	return nil
}

// labelValues answers a label_values(selector, label) variable query.
func (c *promClient) labelValues(selector, label string) ([]string, error) {
	now := time.Now()
	data, err := c.get("/api/v1/label/"+label+"/values", url.Values{
		"match[]": {selector},
		"start":   {strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)},
		"end":     {strconv.FormatInt(now.Unix(), 10)},
	})
	if err != nil {
		return nil, err
	}
	var values []string
	return values, json.Unmarshal(data, &values)
}

// pickSelection chooses one value for every variable such that the values
// occur together: the labels of a group of devices failing a profile. With
// it, every panel of every dashboard has data.
func pickSelection(t *testing.T, c *promClient) map[string]string {
	t.Helper()
	series, err := c.query(`mde_baseline_profile_devices{status="non_compliant"}
		* on (job, instance, profile_id) group_left (profile_name) mde_baseline_profile_info`, true)
	if err != nil || len(series) == 0 {
		t.Fatalf("no device fails a profile, so the dashboards cannot be checked (err: %v)", err)
	}
	slices.SortFunc(series, func(a, b sample) int {
		return strings.Compare(fmt.Sprint(a.Metric), fmt.Sprint(b.Metric))
	})
	m := series[0].Metric
	return map[string]string{
		"job":         m["job"],
		"instance":    m["instance"],
		"profile":     m["profile_name"],
		"rbac_group":  m["rbac_group"],
		"os_platform": m["os_platform"],
	}
}

// checkVariableValues runs the dashboard's variable queries the way Grafana
// does, with the variables they use set to the picked values, and checks that
// the picked values are among the answers.
func checkVariableValues(t *testing.T, c *promClient, b *board, pick map[string]string) {
	t.Helper()
	for _, v := range b.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(v.queryString())
		if m == nil {
			t.Fatalf("variable %s: unexpected query %q", v.Name, v.queryString())
		}
		values, err := c.labelValues(substitute(m[1], pick), m[2])
		switch {
		case err != nil:
			t.Errorf("variable %s: %v", v.Name, err)
		case len(values) == 0:
			t.Errorf("variable %s: %s has no values", v.Name, v.queryString())
		case !slices.Contains(values, pick[v.Name]):
			t.Errorf("variable %s: %q is not among its values %q", v.Name, pick[v.Name], values)
		}
	}
}

// allSelection selects All for every variable that offers it, and the picked
// value for the others.
func allSelection(b *board, pick map[string]string) map[string]string {
	sel := map[string]string{}
	for _, v := range b.Templating.List {
		if v.IncludeAll {
			sel[v.Name] = allMarker + v.AllValue
		} else if p, ok := pick[v.Name]; ok {
			sel[v.Name] = p
		}
	}
	return sel
}

// allMarker prefixes a variable value that is a regular expression already
// (an allValue), not a value to escape.
const allMarker = "\x00all:"

// substitute interpolates the dashboard variables into a query like Grafana
// does for Prometheus: a value is regex-escaped where the variable is used
// with =~ and the All value is used as it is. Interval macros get durations.
func substitute(expr string, vars map[string]string) string {
	expr = strings.NewReplacer(
		"$__rate_interval", "1m",
		"$__interval", "15s",
		"$__range", "5m",
	).Replace(expr)
	return matcherRE.ReplaceAllStringFunc(expr, func(s string) string {
		m := matcherRE.FindStringSubmatch(s)
		op, name := m[1], m[2]
		value, ok := vars[name]
		if !ok {
			return s
		}
		if all, isAll := strings.CutPrefix(value, allMarker); isAll {
			return op + strconv.Quote(all)
		}
		if op == "=~" {
			value = regexp.QuoteMeta(value)
		}
		return op + strconv.Quote(value)
	})
}

var matcherRE = regexp.MustCompile(`(=~|=)"\$(\w+)"`)

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"`
	Health    string `json:"health"`
	LastError string `json:"lastError"`
	State     string `json:"state"`
}

func checkRules(t *testing.T, c *promClient) {
	data, err := c.get("/api/v1/rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &rules); err != nil {
		t.Fatal(err)
	}

	want := append(recordingRules(t), alertNames(t)...)
	var loaded []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			loaded = append(loaded, r.Name)
			where := fmt.Sprintf("%s rule %s", r.Type, r.Name)
			if r.Health != "ok" {
				t.Errorf("%s: health %q %s", where, r.Health, r.LastError)
			}
			if _, err := c.query(r.Query, true); err != nil {
				t.Errorf("%s: %v\n%s", where, err, r.Query)
			}
			if r.Type == "recording" {
				if err := c.hasData(r.Name, true); err != nil {
					t.Errorf("%s: the recorded series: %v", where, err)
				}
				continue
			}
			if r.State != "inactive" {
				t.Logf("%s is %s", where, r.State)
			}
			checkAlertInputs(t, c, where, r.Query)
		}
	}
	slices.Sort(want)
	slices.Sort(loaded)
	if !slices.Equal(want, loaded) {
		t.Errorf("Prometheus loaded rules %q, the rule files define %q", loaded, want)
	}
}

// checkAlertInputs checks that every series an alert reads has data. The
// alert itself usually has none, as it does not fire.
func checkAlertInputs(t *testing.T, c *promClient, where, query string) {
	t.Helper()
	expr, err := promql.ParseExpr(query)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	for _, vs := range selectors(expr) {
		// Offsets aside: a series with data now had data a day ago, or
		// will have tomorrow.
		now := &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}
		if err := c.hasData(now.String(), true); err != nil {
			t.Errorf("%s: %s: %v", where, now, err)
		}
	}
}

func alertNames(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert:\s*(\S+)\s*$`).FindAllSubmatch(raw, -1) {
		names = append(names, string(m[1]))
	}
	return names
}
