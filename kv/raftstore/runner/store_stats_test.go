package runner

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

func TestStoreStatsFromDataDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string]int{
		"kv/000001.sst":              4096,
		"kv/MANIFEST":                100,
		"raft/000001.vlog":           2000,
		"snap/gen_1_5_5_default.sst": 333,
	}
	want := uint64(0)
	for name, size := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		want += uint64(size)
	}
	started := time.Unix(1_700_000_000, 0)
	stats := &schedulerpb.StoreStats{StoreId: 7, RegionCount: 3}
	if err := fillStoreStats(stats, dir, started); err != nil {
		t.Fatalf("fillStoreStats(%s): %v", dir, err)
	}
	if stats.UsedSize != want {
		t.Errorf("used size: want %d bytes (every file under the data directory, subdirectories included), got %d", want, stats.UsedSize)
	}
	if stats.StartTime != uint32(started.Unix()) {
		t.Errorf("start time: want %d, got %d", started.Unix(), stats.StartTime)
	}
	if stats.StoreId != 7 || stats.RegionCount != 3 {
		t.Errorf("fields set by the store changed: %+v", stats)
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		if stats.Capacity == 0 || stats.Available == 0 || stats.Available > stats.Capacity {
			t.Errorf("disk space: want 0 < available <= capacity, got capacity %d available %d", stats.Capacity, stats.Available)
		}
	}
}

func TestStoreStatsOfMissingDataDir(t *testing.T) {
	stats := new(schedulerpb.StoreStats)
	missing := filepath.Join(t.TempDir(), "gone")
	if err := fillStoreStats(stats, missing, time.Now()); err == nil {
		t.Fatalf("fillStoreStats(%s) of a missing directory: want an error, got none (stats %+v)", missing, stats)
	}
}
