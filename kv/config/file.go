package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// ParseSize reads a size in bytes: a whole number with an optional unit,
// B, KiB, MiB, GiB (KB, MB, GB and K, M, G mean the same powers of 1024),
// such as 96MiB, 512KiB or 800B. A number without a unit is bytes.
func ParseSize(s string) (uint64, error) {
	text := strings.TrimSpace(s)
	i := 0
	for i < len(text) && text[i] >= '0' && text[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a whole number of bytes with an optional unit (B, KiB, MiB, GiB), such as 96MiB", s)
	}
	n, err := strconv.ParseUint(text[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %v", s, err)
	}
	var unit uint64
	switch strings.ToUpper(strings.TrimSpace(text[i:])) {
	case "", "B":
		unit = 1
	case "K", "KB", "KIB":
		unit = KB
	case "M", "MB", "MIB":
		unit = MB
	case "G", "GB", "GIB":
		unit = 1024 * MB
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q (want B, KiB, MiB or GiB)", s, strings.TrimSpace(text[i:]))
	}
	if n > (1<<64-1)/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * unit, nil
}

// FormatSize writes a size the way ParseSize reads it, in the largest unit
// that divides it.
func FormatSize(n uint64) string {
	switch {
	case n >= 1024*MB && n%(1024*MB) == 0:
		return fmt.Sprintf("%dGiB", n/(1024*MB))
	case n >= MB && n%MB == 0:
		return fmt.Sprintf("%dMiB", n/MB)
	case n >= KB && n%KB == 0:
		return fmt.Sprintf("%dKiB", n/KB)
	}
	return fmt.Sprintf("%dB", n)
}

// sizeValue is a size in a config file: a string such as "96MiB" or a
// number of bytes.
type sizeValue struct{ n uint64 }

func (s *sizeValue) UnmarshalTOML(v interface{}) error {
	switch v := v.(type) {
	case string:
		n, err := ParseSize(v)
		s.n = n
		return err
	case int64:
		if v < 0 {
			return fmt.Errorf("size %d is negative", v)
		}
		s.n = uint64(v)
		return nil
	}
	return fmt.Errorf("size %v: want a string such as \"96MiB\" or a number of bytes", v)
}

// durationValue is a duration in a config file, such as "50ms" or "10s".
type durationValue struct{ d time.Duration }

func (d *durationValue) UnmarshalText(text []byte) error {
	parsed, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit, such as 50ms or 10s", text)
	}
	d.d = parsed
	return nil
}

// fileConfig is the layout of a tinykv-server config file. Every setting
// is optional; those present replace the defaults.
type fileConfig struct {
	Addr       *string `toml:"addr"`
	StatusAddr *string `toml:"status-addr"`
	Path       *string `toml:"path"`
	Scheduler  *string `toml:"scheduler"`
	LogLevel   *string `toml:"log-level"`
	Standalone *bool   `toml:"standalone"`
	Raftstore  struct {
		RaftBaseTickInterval                *durationValue `toml:"raft-base-tick-interval"`
		RaftHeartbeatTicks                  *int           `toml:"raft-heartbeat-ticks"`
		RaftElectionTimeoutTicks            *int           `toml:"raft-election-timeout-ticks"`
		RaftLogGCTickInterval               *durationValue `toml:"raft-log-gc-tick-interval"`
		RaftLogGcCountLimit                 *uint64        `toml:"raft-log-gc-count-limit"`
		SplitRegionCheckTickInterval        *durationValue `toml:"split-region-check-tick-interval"`
		SchedulerHeartbeatTickInterval      *durationValue `toml:"scheduler-heartbeat-tick-interval"`
		SchedulerStoreHeartbeatTickInterval *durationValue `toml:"scheduler-store-heartbeat-tick-interval"`
		MaxLeaderMissingDuration            *durationValue `toml:"max-leader-missing-duration"`
		RegionMaxSize                       *sizeValue     `toml:"region-max-size"`
		RegionSplitSize                     *sizeValue     `toml:"region-split-size"`
		SnapConcurrentSends                 *int           `toml:"snap-concurrent-sends"`
		SnapConcurrentRecvs                 *int           `toml:"snap-concurrent-recvs"`
	} `toml:"raftstore"`
}

// LoadFile applies the settings of the TOML file at path to c (see
// doc/cluster.md for the names). An unknown setting, a value of the wrong
// type or an unreadable file is an error that names it, and leaves c as it
// was. It does not validate the result: call Validate once every source
// (file, flags) is applied.
func (c *Config) LoadFile(path string) error {
	var f fileConfig
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return fmt.Errorf("config file %s: %s", path, perr.Error())
		}
		return fmt.Errorf("config file %s: %v", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		names := make([]string, len(undecoded))
		for i, k := range undecoded {
			names[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown setting %s", path, strings.Join(names, ", "))
	}
	setString(&c.StoreAddr, f.Addr)
	setString(&c.StatusAddr, f.StatusAddr)
	setString(&c.DBPath, f.Path)
	setString(&c.SchedulerAddr, f.Scheduler)
	setString(&c.LogLevel, f.LogLevel)
	if f.Standalone != nil {
		c.Raft = !*f.Standalone
	}
	r := &f.Raftstore
	setDuration(&c.RaftBaseTickInterval, r.RaftBaseTickInterval)
	setInt(&c.RaftHeartbeatTicks, r.RaftHeartbeatTicks)
	setInt(&c.RaftElectionTimeoutTicks, r.RaftElectionTimeoutTicks)
	setDuration(&c.RaftLogGCTickInterval, r.RaftLogGCTickInterval)
	if r.RaftLogGcCountLimit != nil {
		c.RaftLogGcCountLimit = *r.RaftLogGcCountLimit
	}
	setDuration(&c.SplitRegionCheckTickInterval, r.SplitRegionCheckTickInterval)
	setDuration(&c.SchedulerHeartbeatTickInterval, r.SchedulerHeartbeatTickInterval)
	setDuration(&c.SchedulerStoreHeartbeatTickInterval, r.SchedulerStoreHeartbeatTickInterval)
	setDuration(&c.MaxLeaderMissingDuration, r.MaxLeaderMissingDuration)
	if r.RegionMaxSize != nil {
		c.RegionMaxSize = r.RegionMaxSize.n
	}
	if r.RegionSplitSize != nil {
		c.RegionSplitSize = r.RegionSplitSize.n
	}
	setInt(&c.SnapConcurrentSends, r.SnapConcurrentSends)
	setInt(&c.SnapConcurrentRecvs, r.SnapConcurrentRecvs)
	return nil
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setDuration(dst *time.Duration, v *durationValue) {
	if v != nil {
		*dst = v.d
	}
}
