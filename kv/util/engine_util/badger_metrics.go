package engine_util

import (
	"github.com/Connor1996/badger/y"
	"github.com/prometheus/client_golang/prometheus"
)

// badger counts the work of each database in package-level Prometheus
// vectors, one series per database directory (label "path") and per LSM
// level, and never removes a series when the database closes. A process
// that opens databases in ever new directories (a test binary: every test
// cluster has its own temporary directory) would keep every closed
// database's series, some 35 KB each, for good.

// badgerPathVecs are badger's vectors labelled by database directory.
var badgerPathVecs = []interface {
	DeletePartialMatch(prometheus.Labels) int
}{
	y.LSMSize, y.VlogSize,
	y.NumReads, y.NumWrites, y.NumBytesRead, y.NumVLogBytesWritten,
	y.NumGets, y.NumPuts, y.NumMemtableGets,
	y.NumCompactionBytesWrite, y.NumCompactionBytesRead, y.NumCompactionBytesDiscard,
	y.NumCompactionKeysWrite, y.NumCompactionKeysRead, y.NumCompactionKeysDiscard,
	y.NumLSMGets, y.NumLSMBloomFalsePositive,
	y.VlogSyncDuration, y.WriteLSMDuration, y.LSMGetDuration, y.LSMMultiGetDuration,
}

// forgetBadgerMetrics drops badger's series of the database that was open
// in dir; it is called once that database is closed.
func forgetBadgerMetrics(dir string) {
	if dir == "" {
		return
	}
	labels := prometheus.Labels{"path": dir}
	for _, vec := range badgerPathVecs {
		vec.DeletePartialMatch(labels)
	}
}
