package config

import "strconv"

// Reloadable lists what a reload (SIGHUP) applies to a running proxy: the
// log level, and each volume's clients, squash, secure_ports and
// read_only. Everything else needs a restart; RestartNeeded names it.
const Reloadable = "log.level, volumes[].clients, squash, secure_ports, read_only"

// RestartNeeded compares a running configuration with the next one and
// names the changes a reload cannot apply (nil when there are none).
func RestartNeeded(old, next *Config) []string {
	var restart []string
	if next.Listen != old.Listen || next.MountListen != old.MountListen || next.Portmap != old.Portmap ||
		next.Metrics != old.Metrics || next.Admin != old.Admin || next.Log.Format != old.Log.Format {
		restart = append(restart, "listen addresses, portmap, metrics, admin, log format")
	}
	if next.Cache != old.Cache {
		restart = append(restart, "cache")
	}
	if next.Limits != old.Limits {
		restart = append(restart, "limits")
	}
	if next.Upstream != old.Upstream {
		restart = append(restart, "upstream")
	}
	if !next.NLM.equal(&old.NLM) {
		restart = append(restart, "nlm")
	}
	byID := map[int]*VolumeConfig{}
	for i := range next.Volumes {
		byID[next.Volumes[i].ID] = &next.Volumes[i]
	}
	for i := range old.Volumes {
		ov := &old.Volumes[i]
		nv := byID[ov.ID]
		if nv == nil {
			restart = append(restart, "volume "+strconv.Itoa(ov.ID)+" removed")
			continue
		}
		delete(byID, ov.ID)
		if nv.Upstream != ov.Upstream || nv.MountPath() != ov.MountPath() || nv.NFSPort != ov.NFSPort ||
			nv.MountPort != ov.MountPort || nv.NLMPort != ov.NLMPort || nv.Coherency != ov.Coherency || nv.Failure != ov.Failure {
			restart = append(restart, "volume "+strconv.Itoa(ov.ID)+" upstream, name, ports, coherency or failure")
		}
	}
	for i := range next.Volumes {
		if id := next.Volumes[i].ID; byID[id] != nil {
			restart = append(restart, "volume "+strconv.Itoa(id)+" added")
		}
	}
	return restart
}
