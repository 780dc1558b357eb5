package collector

import (
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// exposition holds a snapshot's baseline metrics, built on the first scrape and
// then served by every scrape without rebuilding them. A label pair is shared by
// all series with that label value, so a series costs one small slice; the
// series are in the order the registry sorts them into, so that its sort finds
// them sorted.
//
// TODO: a scrape still encodes and compresses every series (about 170 ms for
// 100,000); rendering the text once per snapshot would make it milliseconds,
// but needs a handler of its own in place of promhttp for these families.
type exposition struct {
	once    sync.Once
	metrics []snapshotMetric
}

// snapshotMetric is one gauge of a snapshot. It implements prometheus.Metric.
type snapshotMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair // sorted by name, shared, never modified
	value  float64
}

// Desc implements prometheus.Metric.
func (m *snapshotMetric) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric. The label pairs are shared with every
// other scrape, as a constant metric's are.
func (m *snapshotMetric) Write(out *dto.Metric) error {
	value := m.value
	out.Label = m.labels
	out.Gauge = &dto.Gauge{Value: &value}
	return nil
}

// metrics returns the snapshot's baseline metrics, building them once.
func (s *Snapshot) metrics() []snapshotMetric {
	s.exposition.once.Do(func() {
		var b metricsBuilder
		b.add(devicesDesc, s.Devices)
		b.add(profileDevicesDesc, s.ProfileDevices)
		b.addInfo(profileInfoDesc, s.ProfileInfo)
		b.addInfo(configurationInfoDesc, s.ConfigurationInfo)
		s.exposition.metrics = b.metrics
	})
	return s.exposition.metrics
}

// metricsBuilder turns series into snapshot metrics, sharing label pairs.
type metricsBuilder struct {
	metrics []snapshotMetric
	pairs   map[labelPair]*dto.LabelPair
}

type labelPair struct{ name, value string }

func (b *metricsBuilder) add(desc *prometheus.Desc, series []Series) {
	layout := labelLayoutOf(desc)
	start := len(b.metrics)
	pairs := make([]*dto.LabelPair, len(series)*len(layout.names))

	for i, s := range series {
		labels := pairs[i*len(layout.names) : (i+1)*len(layout.names) : (i+1)*len(layout.names)]
		for sorted, name := range layout.names {
			labels[sorted] = b.pair(name, s.Labels[layout.source[sorted]])
		}
		b.metrics = append(b.metrics, snapshotMetric{desc: desc, labels: labels, value: s.Value})
	}

	slices.SortFunc(b.metrics[start:], func(x, y snapshotMetric) int {
		return slices.CompareFunc(x.labels, y.labels, func(p, q *dto.LabelPair) int {
			return compareStrings(p.GetValue(), q.GetValue())
		})
	})
}

func (b *metricsBuilder) addInfo(desc *prometheus.Desc, labels [][]string) {
	series := make([]Series, len(labels))
	for i, l := range labels {
		series[i] = Series{Labels: l, Value: 1}
	}
	b.add(desc, series)
}

// pair returns the shared label pair of name and value.
func (b *metricsBuilder) pair(name, value string) *dto.LabelPair {
	if b.pairs == nil {
		b.pairs = make(map[labelPair]*dto.LabelPair)
	}
	key := labelPair{name, value}
	p, ok := b.pairs[key]
	if !ok {
		p = &dto.LabelPair{Name: &key.name, Value: &key.value}
		b.pairs[key] = p
	}
	return p
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// labelLayout says where a Desc's labels go: the registry sorts a metric's label
// pairs by name.
type labelLayout struct {
	names  []string // sorted
	source []int    // for each sorted name, its place in the Desc's labels
}

var (
	labelLayoutsMu sync.Mutex
	labelLayouts   = make(map[*prometheus.Desc]labelLayout)
)

// labelLayoutOf finds the layout of desc by writing a metric whose label values
// are their places.
func labelLayoutOf(desc *prometheus.Desc) labelLayout {
	labelLayoutsMu.Lock()
	defer labelLayoutsMu.Unlock()

	if layout, ok := labelLayouts[desc]; ok {
		return layout
	}

	// No Desc of this package has more than a handful of labels.
	var places []string
	for i := range 64 {
		places = append(places, strconv.Itoa(i))
		if m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, 0, places...); err == nil {
			var out dto.Metric
			_ = m.Write(&out) // a constant metric always writes
			var layout labelLayout
			for _, p := range out.GetLabel() {
				place, _ := strconv.Atoi(p.GetValue())
				layout.names = append(layout.names, p.GetName())
				layout.source = append(layout.source, place)
			}
			labelLayouts[desc] = layout
			return layout
		}
	}
	panic("collector: no label values fit " + desc.String())
}
