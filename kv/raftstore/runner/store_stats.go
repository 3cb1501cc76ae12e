package runner

import (
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// fillStoreStats adds to stats what the store's data directory tells: the
// bytes the store's files take (used size), the size of the file system
// holding them and what is still free there (capacity, available), and
// when the store started.
func fillStoreStats(stats *schedulerpb.StoreStats, dataDir string, started time.Time) error {
	stats.StartTime = uint32(started.Unix())
	used, err := dirSize(dataDir)
	if err != nil {
		return err
	}
	stats.UsedSize = used
	capacity, available, err := diskSpace(dataDir)
	if err != nil {
		return err
	}
	stats.Capacity = capacity
	stats.Available = available
	return nil
}

// dirSize adds up the sizes of the regular files under dir. Files that go
// away while it walks (badger compacts, snapshots are deleted) are skipped.
func dirSize(dir string) (uint64, error) {
	var total uint64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		total += uint64(info.Size())
		return nil
	})
	return total, err
}
