//go:build linux

package engine_util

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pingcap/errors"
)

// releaseTableMappings unmaps the table files (SSTs) of dir that badger
// left mapped when it closed the database in dir.
//
// Badger maps every table (TableLoadingMode MemoryMap) and unmaps a table
// it replaced only once no reader of an older version can reach it: the
// deletion waits two epochs of its resource manager. Close stops that
// manager first and then drops the pending deletions, among them the
// tables replaced by the compaction of level 0 that Close itself runs. Those
// tables stay mapped until the process exits, their pages counted in its
// RSS even after the files are removed: a test binary that closes a
// database per store and per test cluster kept some 2 MB per cluster, and
// as many mappings.
//
// The database must be closed and no other one open in dir. The mappings
// are found in /proc/self/maps (by path: read-only shared mappings of
// dir's *.sst files) and unmapped with munmap(2); what badger's mmap
// helper records of them is left as it is (it is only looked at to unmap
// through it, which badger no longer does for these tables).
func releaseTableMappings(dir string) error {
	if dir == "" {
		return nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return errors.Annotatef(err, "release the table mappings of %s", dir)
	}
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return errors.Annotatef(err, "release the table mappings of %s", dir)
	}
	var failed []string
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := tableMapping(sc.Text(), dir)
		if !ok {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MUNMAP, start, end-start, 0); errno != 0 {
			failed = append(failed, fmt.Sprintf("%x-%x: %v", start, end, errno))
		}
	}
	if len(failed) > 0 {
		return errors.Errorf("release the table mappings of %s: munmap %s", dir, strings.Join(failed, ", "))
	}
	return nil
}

// tableMapping parses a line of /proc/self/maps ("start-end perms offset
// dev inode path") and tells whether it maps, read-only and shared as
// badger does, a table file directly in dir.
func tableMapping(line, dir string) (start, end uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[1] != "r--s" {
		return 0, 0, false
	}
	path := strings.TrimSuffix(strings.Join(fields[5:], " "), " (deleted)")
	if filepath.Dir(path) != dir || filepath.Ext(path) != ".sst" {
		return 0, 0, false
	}
	from, to, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(from, 16, 64)
	e, err2 := strconv.ParseUint(to, 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
