package metrics

import (
	"sync"
	"time"
	"weak"

	"github.com/Connor1996/badger"
	"github.com/prometheus/client_golang/prometheus"
)

// engines maps every open badger engine to its kind ("kv" or "raft"). The
// keys are weak: an engine closed without EngineClosed (the standalone
// storage closes its own) is not kept alive by the metrics.
var engines sync.Map // weak.Pointer[badger.DB] -> string

// EngineOpened and EngineClosed follow the open engines, whose sizes are
// read when scraped and whose writes are timed by kind.
func EngineOpened(db *badger.DB, raft bool) {
	kind := "kv"
	if raft {
		kind = "raft"
	}
	engines.Store(weak.Make(db), kind)
}

func EngineClosed(db *badger.DB) { engines.Delete(weak.Make(db)) }

// EngineWritten observes a write batch to db that took d.
func EngineWritten(db *badger.DB, d time.Duration) {
	if kind, ok := engines.Load(weak.Make(db)); ok && kind == "raft" {
		engineWriteRaft.Observe(d.Seconds())
		return
	}
	engineWriteKV.Observe(d.Seconds())
}

var engineSizeDesc = prometheus.NewDesc(namespace+"_engine_size_bytes",
	"Size on disk of the badger engines of this process, by engine (kv, raft) and part (lsm, vlog).", []string{"engine", "part"}, nil)

type engineCollector struct{}

func (engineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- engineSizeDesc }

func (engineCollector) Collect(ch chan<- prometheus.Metric) {
	sizes := map[[2]string]int64{}
	engines.Range(func(k, v any) bool {
		db := k.(weak.Pointer[badger.DB]).Value()
		if db == nil {
			engines.Delete(k)
			return true
		}
		lsm, vlog := db.Size()
		sizes[[2]string{v.(string), "lsm"}] += lsm
		sizes[[2]string{v.(string), "vlog"}] += vlog
		return true
	})
	for key, n := range sizes {
		ch <- prometheus.MustNewConstMetric(engineSizeDesc, prometheus.GaugeValue, float64(n), key[0], key[1])
	}
}
