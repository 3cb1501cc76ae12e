package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The write path, stage by stage (see message.Callback): a command waits
// in the raft worker's queue, is proposed, appended to the leader's raft
// log, known committed by the leader (persisted, or about to be applied),
// then applied and answered.
var (
	writeStage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "raft_write_stage_duration_seconds",
		Help:    "Time a command spent in each stage of the write path: queue (router to raft worker), append (proposed to persisted in the leader's raft log), commit (appended to known committed on the leader), apply (committed to answered).",
		Buckets: durationBuckets,
	}, []string{"stage"})
	engineSync = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "engine_sync_duration_seconds",
		Help: "Time of one fsync of a store's engine (kv, raft), which syncs its writes itself so that some batches may wait for the next sync.", Buckets: durationBuckets,
	}, []string{"engine"})
	raftRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_worker_rounds_total",
		Help: "Rounds of the raft worker: take the waiting messages, then handle the Ready of each peer they touched.",
	})
	raftRoundMessages = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "raft_worker_messages_total",
		Help: "Messages the raft worker handled (raft messages, commands, ticks).",
	})

	stageQueue   = writeStage.WithLabelValues("queue")
	stageAppend  = writeStage.WithLabelValues("append")
	stageCommit  = writeStage.WithLabelValues("commit")
	stageApplied = writeStage.WithLabelValues("apply")

	engineSyncKV   = engineSync.WithLabelValues("kv")
	engineSyncRaft = engineSync.WithLabelValues("raft")
)

func init() {
	prometheus.MustRegister(writeStage, engineSync, raftRounds, raftRoundMessages)
}

// CommandQueued observes the time a command waited for the raft worker.
func CommandQueued(d time.Duration) { stageQueue.Observe(d.Seconds()) }

// WriteStages observes the stages of a command answered without an error;
// a stage it never reached is 0 and not observed.
func WriteStages(appended, committed, applied time.Duration) {
	if appended > 0 {
		stageAppend.Observe(appended.Seconds())
	}
	if committed > 0 {
		stageCommit.Observe(committed.Seconds())
	}
	if applied > 0 {
		stageApplied.Observe(applied.Seconds())
	}
}

// EngineSynced observes one fsync of a store's raft or kv engine.
func EngineSynced(raft bool, d time.Duration) {
	if raft {
		engineSyncRaft.Observe(d.Seconds())
		return
	}
	engineSyncKV.Observe(d.Seconds())
}

// RaftRound counts one round of a raft worker that handled msgs messages.
func RaftRound(msgs int) {
	raftRounds.Inc()
	raftRoundMessages.Add(float64(msgs))
}

// WritePath is a reading of the write-path metrics of this process, for
// benchmarks: subtract an earlier reading (Sub) to get an interval.
type WritePath struct {
	// Stages are queue, append, commit and apply.
	Stages                       [4]Sum
	RaftWrite, KVWrite           Sum
	RaftSync, KVSync             Sum
	Ready                        Sum
	Rounds, RoundMsgs, Proposals float64
}

// Sum is a count of observations and their total in seconds.
type Sum struct {
	Count uint64
	Total float64
}

// Mean is the average observation (0 without any).
func (s Sum) Mean() time.Duration {
	if s.Count == 0 {
		return 0
	}
	return time.Duration(s.Total / float64(s.Count) * float64(time.Second))
}

func (s Sum) sub(o Sum) Sum { return Sum{Count: s.Count - o.Count, Total: s.Total - o.Total} }

// ReadWritePath reads the write-path metrics now.
func ReadWritePath() WritePath {
	return WritePath{
		Stages:    [4]Sum{sumOf(stageQueue), sumOf(stageAppend), sumOf(stageCommit), sumOf(stageApplied)},
		RaftWrite: sumOf(engineWriteRaft),
		KVWrite:   sumOf(engineWriteKV),
		RaftSync:  sumOf(engineSyncRaft),
		KVSync:    sumOf(engineSyncKV),
		Ready:     sumOf(readyDuration),
		Rounds:    valueOf(raftRounds),
		RoundMsgs: valueOf(raftRoundMessages),
		Proposals: valueOf(proposalNormal),
	}
}

// Sub is the change from an earlier reading to w.
func (w WritePath) Sub(earlier WritePath) WritePath {
	d := w
	for i := range d.Stages {
		d.Stages[i] = w.Stages[i].sub(earlier.Stages[i])
	}
	d.RaftWrite = w.RaftWrite.sub(earlier.RaftWrite)
	d.KVWrite = w.KVWrite.sub(earlier.KVWrite)
	d.RaftSync = w.RaftSync.sub(earlier.RaftSync)
	d.KVSync = w.KVSync.sub(earlier.KVSync)
	d.Ready = w.Ready.sub(earlier.Ready)
	d.Rounds = w.Rounds - earlier.Rounds
	d.RoundMsgs = w.RoundMsgs - earlier.RoundMsgs
	d.Proposals = w.Proposals - earlier.Proposals
	return d
}

func sumOf(o prometheus.Observer) Sum {
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		return Sum{}
	}
	return Sum{Count: m.GetHistogram().GetSampleCount(), Total: m.GetHistogram().GetSampleSum()}
}

func valueOf(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
