// Package dashboards holds no code: it ships the Grafana dashboards
// (*.json) and the Prometheus rule files (rules.yml, alerts.yml) of
// mde_exporter, and its tests check them.
//
// The tests of this package check that every dashboard decodes strictly into
// the Grafana Foundation SDK's dashboard types, that every PromQL query parses
// and uses only metrics the exporter publishes, and that every panel follows
// the conventions (datasource, job and instance variables, a unit and a
// description). With MDE_PROMETHEUS_URL set, they also run every dashboard
// query and every rule against a live Prometheus; integration-test.sh starts
// one. The rule unit tests in tests/ run with promtool test rules.
package dashboards
