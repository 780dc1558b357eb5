package collector_test

import (
	"flag"
	"fmt"
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/mde-exporter/mde_exporter/client"
	"github.com/mde-exporter/mde_exporter/collector"
	"github.com/mde-exporter/mde_exporter/simulator"
)

var (
	propertySeed  = flag.Int64("property.seed", 1, "seed of the tenants TestPropertyModesAgree generates; 0 picks one")
	propertyCount = flag.Int("property.count", 25, "number of tenants TestPropertyModesAgree generates")
)

// tenantShape is a randomly generated tenant and page size.
type tenantShape struct {
	opts     simulator.Options
	pageSize int
}

// Generate implements quick.Generator: every option of the simulator that
// changes what is served varies, within sizes a test reads in a fraction of a
// second.
func (tenantShape) Generate(r *rand.Rand, _ int) reflect.Value {
	opts := simulator.Options{
		Seed:                     r.Int63(),
		Devices:                  r.Intn(80) - 5, // a few tenants without devices
		Profiles:                 1 + r.Intn(4),
		ConfigurationsPerProfile: 1 + r.Intn(12),
		RbacGroups:               r.Intn(6) - 1, // -1: no groups; 0: the default
		NonCompliantShare:        r.Float64() - 0.1,
		NotApplicableShare:       r.Float64()*0.6 - 0.1,
		OddShare:                 r.Float64()*0.6 - 0.1,
		PartRecords:              20 + r.Intn(400),
		EmptyParts:               r.Intn(3),
		FileCasing:               simulator.Casing(r.Intn(2)),
		Shuffle:                  r.Intn(2) == 0,
		NullNextLinkOnLastPage:   r.Intn(2) == 0,
	}
	return reflect.ValueOf(tenantShape{opts: opts, pageSize: 20 + r.Intn(400)})
}

func (s tenantShape) String() string {
	o := s.opts
	return fmt.Sprintf("seed=%d devices=%d profiles=%d configurations=%d groups=%d nc=%.2f na=%.2f odd=%.2f part=%d empty=%d casing=%d shuffle=%v null=%v page=%d",
		o.Seed, o.Devices, o.Profiles, o.ConfigurationsPerProfile, o.RbacGroups, o.NonCompliantShare, o.NotApplicableShare,
		o.OddShare, o.PartRecords, o.EmptyParts, o.FileCasing, o.Shuffle, o.NullNextLinkOnLastPage, s.pageSize)
}

// TestPropertyModesAgree: for any generated tenant, files mode and json mode
// publish identical metrics, and their totals are the simulator's counts. Run
// with -property.seed=0 -property.count=200 to explore more tenants.
func TestPropertyModesAgree(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = rand.Int63()
	}
	t.Logf("tenants generated from -property.seed=%d", seed)

	property := func(shape tenantShape) bool {
		return t.Run(shape.String(), func(t *testing.T) { checkModesAgree(t, shape) })
	}
	config := &quick.Config{MaxCount: *propertyCount, Rand: rand.New(rand.NewSource(seed))}
	if err := quick.Check(property, config); err != nil {
		t.Error(err)
	}
}

func checkModesAgree(t *testing.T, shape tenantShape) {
	tenant, err := simulator.Start(shape.opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tenant.Close()
	expected := tenant.Expected()

	defaults := shape.opts.WithDefaults()
	c, err := client.New(client.Config{
		TenantID: defaults.TenantID, ClientID: defaults.ClientID, ClientSecret: defaults.ClientSecret,
		LoginURL: tenant.LoginURL(), APIURL: tenant.APIURL(), Scope: tenant.Scope(),
		PageSize: shape.pageSize, AllowHTTP: true, Limits: map[client.Endpoint]client.Limit{},
	})
	if err != nil {
		t.Fatal(err)
	}

	served := make(map[string][2]map[string]float64)
	for _, mode := range []string{collector.ModeFiles, collector.ModeJSON} {
		r := refreshOnce(t, c, mode)
		col := collector.NewCollector(r)
		devices := gather(t, col, "mde_baseline_devices", deviceLabels...)
		profiles := gather(t, col, "mde_baseline_profile_devices", profileLabels...)

		diff(t, mode+" mde_baseline_devices", devices, expectedDevices(expected))
		diff(t, mode+" mde_baseline_profile_devices", profiles, expectedProfileDevices(expected))
		if got := r.Snapshot().Records; got != int64(expected.Records) {
			t.Errorf("%s: mde_exporter_snapshot_records = %d, want %d", mode, got, expected.Records)
		}
		served[mode] = [2]map[string]float64{devices, profiles}
	}

	diff(t, "json vs files mde_baseline_devices", served[collector.ModeJSON][0], served[collector.ModeFiles][0])
	diff(t, "json vs files mde_baseline_profile_devices", served[collector.ModeJSON][1], served[collector.ModeFiles][1])
}
