package simulator

import (
	"strconv"
	"strings"
	"time"
)

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
	n := pad5(i)
	host := kind + "-" + region + "-" + n

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
