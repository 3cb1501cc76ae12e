package gotest

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
)

// groupRSS adds up the resident memory of the processes of process group
// pgid (test2json and the test binary it started), from /proc.
func groupRSS(pgid int) (int64, bool) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, false
	}
	page := int64(os.Getpagesize())
	var total int64
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the process ended meanwhile
		}
		// pid (comm) state ppid pgrp ... rss is the 22nd field after comm.
		end := bytes.LastIndexByte(data, ')')
		if end < 0 {
			continue
		}
		fields := bytes.Fields(data[end+1:])
		if len(fields) < 22 {
			continue
		}
		if g, err := strconv.Atoi(string(fields[2])); err != nil || g != pgid {
			continue
		}
		if rss, err := strconv.ParseInt(string(fields[21]), 10, 64); err == nil {
			total += rss * page
		}
	}
	return total, true
}
