package collector

import (
	"crypto/sha1"
	"encoding/hex"

	"github.com/mde-exporter/mde_exporter/client"
)

// oldTally holds the counts of one part, or of the whole snapshot.
type oldTally struct {
	profiles, configurations, groups, platforms interner

	series  map[seriesKey]uint64
	devices map[deviceKey]deviceState
	records int64
}

func newOldTally() *oldTally {
	return &oldTally{
		profiles:       newInterner(),
		configurations: newInterner(),
		groups:         newInterner(),
		platforms:      newInterner(),
		series:         make(map[seriesKey]uint64),
		devices:        make(map[deviceKey]deviceState),
	}
}

// Add implements client.PartSink.
func (t *oldTally) Add(a *client.Assessment) {
	key := seriesKey{
		profile:       t.profiles.id(a.ProfileID),
		configuration: t.configurations.id(a.ConfigurationID),
		group:         t.groups.id(orDefault(a.RbacGroupName, unassignedGroup)),
		platform:      t.platforms.id(orDefault(a.OSPlatform, unknownPlatform)),
		status:        recordStatus(a),
	}
	t.series[key]++
	t.records++

	device := deviceKey{device: oldDeviceBytes(a.DeviceID), profile: key.profile}
	state, seen := t.devices[device]
	if !seen {
		state.group, state.platform = key.group, key.platform
	}
	state.applicable = state.applicable || key.status != statusNotApplicable
	state.failing = state.failing || key.status == statusNonCompliant
	t.devices[device] = state
}



func oldDeviceBytes(id []byte) [20]byte {
	var out [20]byte
	if len(id) == 40 {
		if _, err := hex.Decode(out[:], id); err == nil {
			return out
		}
	}
	return sha1.Sum(id)
}
