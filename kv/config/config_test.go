package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultAndTestConfigsAreValid(t *testing.T) {
	for name, c := range map[string]*Config{"default": NewDefaultConfig(), "test": NewTestConfig()} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s config is invalid: %v", name, err)
		}
	}
}

func TestTestConfigValues(t *testing.T) {
	c := NewTestConfig()
	if c.RaftBaseTickInterval != 50*time.Millisecond || c.RaftHeartbeatTicks != 2 || c.RaftElectionTimeoutTicks != 10 ||
		c.RaftLogGCTickInterval != 50*time.Millisecond || c.RaftLogGcCountLimit != 128000 ||
		c.SplitRegionCheckTickInterval != 100*time.Millisecond || c.SchedulerHeartbeatTickInterval != 100*time.Millisecond ||
		c.SchedulerStoreHeartbeatTickInterval != 500*time.Millisecond || c.MaxLeaderMissingDuration != 3*time.Second || c.RegionMaxSize != 144*MB || c.RegionSplitSize != 96*MB {
		t.Fatalf("test config differs from the documented values: %+v", c)
	}
	if other := NewTestConfig(); other.DBPath == c.DBPath {
		t.Fatalf("two test configs share the data path %s", c.DBPath)
	}
}

func TestValidateNamesTheBadSetting(t *testing.T) {
	cases := map[string]func(c *Config){
		"election timeout":  func(c *Config) { c.RaftElectionTimeoutTicks = 1 },
		"heartbeat ticks":   func(c *Config) { c.RaftHeartbeatTicks = 0 },
		"split size":        func(c *Config) { c.RegionSplitSize = c.RegionMaxSize + 1 },
		"data path":         func(c *Config) { c.DBPath = "" },
		"unknown log level": func(c *Config) { c.LogLevel = "loud" },
		"store address":     func(c *Config) { c.StoreAddr = "nowhere" },
		"snapshot sends":    func(c *Config) { c.SnapConcurrentSends = 0 },
		"GC count limit":    func(c *Config) { c.RaftLogGcCountLimit = 0 },
	}
	for want, breakIt := range cases {
		c := NewTestConfig()
		breakIt(c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("breaking the %s: Validate() = %v, want an error mentioning %q", want, err, want)
		}
	}
}
