package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"800B": 800, "800": 800, "512KiB": 512 * KB, "96MiB": 96 * MB, "96MB": 96 * MB, "1GiB": 1024 * MB, "2k": 2 * KB, " 3 MiB ": 3 * MB,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1B", "1.5MiB", "12 parsecs", "99999999999999999999", "20000000000GiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
	for _, n := range []uint64{800, 512 * KB, 96 * MB, 3 * 1024 * MB, 1500} {
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, FormatSize(n), back, err)
		}
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tinykv.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileSetsEverySetting(t *testing.T) {
	path := writeFile(t, `
addr = "127.0.0.1:1"
status-addr = "127.0.0.1:3"
path = "/tmp/somewhere"
scheduler = "127.0.0.1:2"
log-level = "warn"
standalone = false

[raftstore]
raft-base-tick-interval = "20ms"
raft-heartbeat-ticks = 3
raft-election-timeout-ticks = 15
raft-log-gc-tick-interval = "1s"
raft-log-gc-count-limit = 1000
split-region-check-tick-interval = "2s"
scheduler-heartbeat-tick-interval = "3s"
scheduler-store-heartbeat-tick-interval = "4s"
max-leader-missing-duration = "5s"
region-max-size = "1MiB"
region-split-size = 524288
snap-concurrent-sends = 2
snap-concurrent-recvs = 3
`)
	c := NewDefaultConfig()
	if err := c.LoadFile(path); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	want := Config{
		StoreAddr: "127.0.0.1:1", StatusAddr: "127.0.0.1:3", DBPath: "/tmp/somewhere", SchedulerAddr: "127.0.0.1:2", LogLevel: "warn", Raft: true,
		RaftBaseTickInterval: 20 * time.Millisecond, RaftHeartbeatTicks: 3, RaftElectionTimeoutTicks: 15,
		RaftLogGCTickInterval: time.Second, RaftLogGcCountLimit: 1000, SplitRegionCheckTickInterval: 2 * time.Second,
		SchedulerHeartbeatTickInterval: 3 * time.Second, SchedulerStoreHeartbeatTickInterval: 4 * time.Second,
		MaxLeaderMissingDuration: 5 * time.Second, RegionMaxSize: MB, RegionSplitSize: 512 * KB, SnapConcurrentSends: 2, SnapConcurrentRecvs: 3,
	}
	if *c != want {
		t.Fatalf("after LoadFile the config is\n%+v\nwant\n%+v", *c, want)
	}
}

func TestLoadFileKeepsWhatItDoesNotSet(t *testing.T) {
	c := NewDefaultConfig()
	if err := c.LoadFile(writeFile(t, "[raftstore]\nregion-max-size = \"800B\"\nregion-split-size = \"500B\"\n")); err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	want := NewDefaultConfig()
	want.RegionMaxSize, want.RegionSplitSize = 800, 500
	if *c != *want {
		t.Fatalf("after LoadFile of two sizes the config is\n%+v\nwant\n%+v", *c, *want)
	}
}

func TestLoadFileRefusesBadFiles(t *testing.T) {
	for text, wantErr := range map[string]string{
		"adr = \"x:1\"\n": "unknown setting adr",
		"[raftstore]\nregion-max-size = \"96 parsecs\"\n":   "unknown unit",
		"[raftstore]\nraft-base-tick-interval = \"fast\"\n": "duration \"fast\"",
		"[raftstore]\nraft-heartbeat-ticks = \"two\"\n":     "raft-heartbeat-ticks",
		"addr = \n": "tinykv.toml",
	} {
		c := NewDefaultConfig()
		err := c.LoadFile(writeFile(t, text))
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("LoadFile of %q = %v, want an error mentioning %q", text, err, wantErr)
		}
		if *c != *NewDefaultConfig() {
			t.Errorf("LoadFile of the bad file %q changed the config: %+v", text, *c)
		}
	}
	c := NewDefaultConfig()
	if err := c.LoadFile(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("LoadFile of a missing file = %v, want an error naming it", err)
	}
}
