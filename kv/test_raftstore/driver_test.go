package test_raftstore

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Connor1996/badger"
	"github.com/anishathalye/porcupine"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// scenario is one run of the generic cluster driver: rounds of clients
// working against the cluster while the network and the stores fail, with
// checks after every round and a linearizability check at the end.
type scenario struct {
	stores    int
	clients   int
	rounds    int
	roundTime time.Duration
	// unreliable drops and delays (so reorders) messages during the rounds.
	unreliable bool
	// partitions splits the stores in two at random, again and again.
	partitions bool
	// crash stops every store after each round and starts them again.
	crash bool
	// loseUnsynced makes each crash a power loss: the engines lose what
	// they had not synced (see durableStates).
	loseUnsynced bool
	// maxRaftLog sets RaftLogGcCountLimit and checks, one second after each
	// round, that no store keeps more than 2*maxRaftLog applied entries.
	maxRaftLog uint64
	// lagger stops one store in each round until the others have compacted
	// their logs past it, then starts it again: it can only catch up with a
	// snapshot, and the test checks that it got one.
	lagger bool
	// confChange adds and removes peers of random regions through the
	// scheduler for the whole run (crashes included), keeping at least
	// minReplicas peers (default 1) in every region.
	confChange  bool
	minReplicas int
	// regionMaxSize, when set, makes regions split: it is RegionMaxSize,
	// and RegionSplitSize is two thirds of it.
	regionMaxSize uint64
}

func (sc scenario) withDefaults() scenario {
	if sc.stores == 0 {
		sc.stores = 5
	}
	if sc.rounds == 0 {
		sc.rounds = 3
	}
	if sc.roundTime == 0 {
		sc.roundTime = 2500 * time.Millisecond
	}
	if sc.minReplicas == 0 {
		sc.minReplicas = 1
	}
	return sc
}

// sharedKeys are the keys every client reads and overwrites.
var sharedKeys = []string{"shared-a", "shared-b", "shared-c"}

// Each client appends to its own list: element i of client c's list is the
// key "cNN/iiiiiiii"; reading the list scans "cNN/" to "cNN0" ('0' follows '/').
func listName(cli int) string         { return fmt.Sprintf("c%02d", cli) }
func listElemKey(cli, i int) []byte   { return []byte(fmt.Sprintf("%s/%08d", listName(cli), i)) }
func listElemValue(cli, i int) string { return fmt.Sprintf("x %d %d y;", cli, i) }
func listRange(cli int) ([]byte, []byte) {
	return []byte(listName(cli) + "/"), []byte(listName(cli) + "0")
}

// clusterDriver runs a scenario.
type clusterDriver struct {
	t               *testing.T
	sc              scenario
	cfg             *config.Config
	cluster         *Cluster
	rng             *rand.Rand
	history         *opHistory
	electionTimeout time.Duration
	opTimeout       time.Duration

	// appended[c] is the number of appends client c has made; written by
	// the client during a round, read between rounds.
	appended []int
	puts     []int
	// lagged counts the rounds whose lagging store had to catch up by snapshot.
	lagged int

	// written holds, for every key other than list elements, the values
	// some try may have written (the model the full scans are checked with).
	writtenMu sync.Mutex
	written   map[string]map[string]bool
	// confChanges counts the membership changes the conf changer made;
	// regions is the number of regions the last full scan read.
	confChanges atomic.Int64
	regions     int
	// durable models the stores' engines after a power loss (loseUnsynced);
	// crashes counts them.
	durable *durableStates
	crashes int
}

func runGenericScenario(t *testing.T, sc scenario) {
	defer failOnHarnessPanic(t)
	d := newClusterDriver(t, sc.withDefaults())
	defer d.cluster.Shutdown()
	d.waitForLeader()
	changer := d.startConfChanger()
	for round := 0; round < d.sc.rounds; round++ {
		d.runRound(round)
		if d.sc.crash {
			d.restartAllStores()
		}
		changer.check(d, round)
		d.checkAppends(round)
		d.checkFullScan(round)
		d.checkEngineLayout(round)
		if d.sc.maxRaftLog > 0 {
			d.checkLogTrimmed(round)
		}
	}
	changer.stop(d)
	d.checkAllAnswered()
	if d.durable != nil {
		d.t.Logf("power losses: the stores redid %d applied entries from their raft logs and restarted %d times from a commit index that went back",
			d.durable.rolledBack, d.durable.commitsLost)
	}
	if d.durable != nil && d.durable.rolledBack == 0 {
		d.fatalf("the power losses took no unsynced apply from any store: the test proved nothing " +
			"(are apply batches written with DeferSync?)")
	}
	if d.sc.regionMaxSize > 0 && d.regions < 2 {
		d.fatalf("with RegionMaxSize %d the clients wrote enough to split the first region, but the last scan read %d region(s): "+
			"no split happened (is the split checked, asked for and applied?)", d.sc.regionMaxSize, d.regions)
	}
	if d.sc.lagger && d.lagged == 0 {
		d.fatalf("no round made a stopped store fall behind the compacted log, so no snapshot was needed: " +
			"the log is not compacted (is RaftLogGcCountLimit honoured?) or the clients were too slow")
	}
	d.checkHistory()
}

func newClusterDriver(t *testing.T, sc scenario) *clusterDriver {
	cfg := config.NewTestConfig()
	if sc.maxRaftLog > 0 {
		cfg.RaftLogGcCountLimit = sc.maxRaftLog
	}
	if sc.regionMaxSize > 0 {
		cfg.RegionMaxSize = sc.regionMaxSize
		cfg.RegionSplitSize = sc.regionMaxSize * 2 / 3
	}
	cluster := NewTestCluster(sc.stores, cfg)
	cluster.name = t.Name()
	cluster.Start()
	var durable *durableStates
	if sc.loseUnsynced {
		var err error
		if durable, err = cluster.trackDurableStates(); err != nil {
			cluster.Shutdown()
			t.Fatal(err)
		}
	}
	return &clusterDriver{
		durable:         durable,
		t:               t,
		sc:              sc,
		cfg:             cfg,
		cluster:         cluster,
		rng:             rand.New(rand.NewSource(cluster.seed)),
		history:         newOpHistory(),
		electionTimeout: cfg.RaftBaseTickInterval * time.Duration(cfg.RaftElectionTimeoutTicks),
		opTimeout:       cluster.requestTimeout,
		appended:        make([]int, sc.clients),
		puts:            make([]int, sc.clients),
		written:         make(map[string]map[string]bool),
	}
}

// mayHaveWritten records that some try may write value to key.
func (d *clusterDriver) mayHaveWritten(key, value string) {
	d.writtenMu.Lock()
	defer d.writtenMu.Unlock()
	if d.written[key] == nil {
		d.written[key] = make(map[string]bool)
	}
	d.written[key][value] = true
}

// failOnHarnessPanic turns the panic of a failed harness helper (which has
// already shut the clusters down) into a test failure, so that the tests
// after this one still run.
func failOnHarnessPanic(t *testing.T) {
	t.Helper()
	if r := recover(); r != nil {
		t.Fatalf("%v", r)
	}
}

// fatalf fails the test with the seed that replays it.
func (d *clusterDriver) fatalf(format string, args ...interface{}) {
	d.t.Helper()
	d.cluster.fatalf(d.t, format, args...)
}

// fatalf fails t with the seed that replays the cluster's run.
func (c *Cluster) fatalf(t testing.TB, format string, args ...interface{}) {
	t.Helper()
	t.Fatalf(format+"\n(seed %d: replay with %s=%d)", append(args, c.seed, SeedEnv, c.seed)...)
}

// startCluster starts count stores named after the test and returns the
// cluster with a fail function that adds the seed to its message.
func startCluster(t *testing.T, count int, cfg *config.Config) (*Cluster, func(string, ...interface{})) {
	t.Helper()
	cluster := NewTestCluster(count, cfg)
	cluster.name = t.Name()
	cluster.Start()
	return cluster, func(format string, args ...interface{}) {
		t.Helper()
		cluster.fatalf(t, format, args...)
	}
}

func (d *clusterDriver) waitForLeader() {
	region := d.cluster.GetRegion(nil)
	if d.cluster.LeaderOfRegion(region.Id) == nil {
		d.fatalf("no leader of region %d reported to the scheduler within %v of start", region.Id, leaderWaitTimeout)
	}
}

// runRound runs the clients for one round, with the round's failures.
func (d *clusterDriver) runRound(round int) {
	var stopClients, stopChaos atomic.Bool
	var clients sync.WaitGroup
	errs := make(chan error, d.sc.clients)
	for cli := 0; cli < d.sc.clients; cli++ {
		clients.Add(1)
		go func(cli int, seed int64) {
			defer clients.Done()
			if err := d.runClientLoop(cli, seed, &stopClients); err != nil {
				errs <- err
			}
		}(cli, d.rng.Int63())
	}
	chaosDone := make(chan struct{})
	go d.runChaos(&stopChaos, d.rng.Int63(), chaosDone)
	lagger := uint64(d.rng.Intn(d.sc.stores) + 1)
	laggerDone := make(chan lagResult, 1)
	go func() { laggerDone <- d.runLagger(lagger) }()

	time.Sleep(d.sc.roundTime)
	lag := <-laggerDone
	stopChaos.Store(true)
	<-chaosDone
	// Heal the network so that requests stuck in a minority finish.
	d.cluster.ClearFilters()
	stopClients.Store(true)
	clients.Wait()
	close(errs)
	for err := range errs {
		d.fatalf("round %d: %v", round, err)
	}
	if lag.err != nil {
		d.fatalf("round %d: %v", round, lag.err)
	}
	if lag.needed {
		d.checkCaughtUpBySnapshot(round, lag)
	}
}

// checkCaughtUpBySnapshot checks, on the healed network, that a store
// restarted behind the compacted log receives a snapshot and then holds
// every client's last append in its own engine.
func (d *clusterDriver) checkCaughtUpBySnapshot(round int, lag lagResult) {
	d.lagged++
	deadline := time.Now().Add(engineWaitTimeout)
	for d.cluster.transport().SnapshotsSentTo(lag.store) == lag.snapshotsBefore {
		if time.Now().After(deadline) {
			d.fatalf("round %d: store %d was stopped with its last log entry at %d while the others compacted their logs past it; "+
				"restarted, it received no snapshot within %v of the end of the round\n%s",
				round, lag.store, lag.lastIndex, engineWaitTimeout, d.progressReport())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Followers learn the commit index only from appends (heartbeats do not
	// carry it): if the append announcing the last commit was lost, a
	// follower stays one step behind until the next write. One more write
	// brings everyone up to date.
	nudge := []byte("lagger-nudge")
	d.mayHaveWritten(string(nudge), fmt.Sprint(round))
	if _, err := d.cluster.request(nudge, []*raft_cmdpb.Request{NewPutCfCmd(engine_util.CfDefault, nudge, []byte(fmt.Sprint(round)))}, d.opTimeout); err != nil {
		d.fatalf("round %d: write after the lagging store restarted: %v", round, err)
	}
	d.checkHoldsLastAppends(round, lag.store)
}

// checkHoldsLastAppends checks that the store's own engine holds the last
// append of every client.
func (d *clusterDriver) checkHoldsLastAppends(round int, storeID uint64) {
	engines := d.cluster.engines[storeID]
	for cli := 0; cli < d.sc.clients; cli++ {
		last := d.appended[cli] - 1
		if last < 0 {
			continue
		}
		key, want := listElemKey(cli, last), listElemValue(cli, last)
		deadline := time.Now().Add(engineWaitTimeout)
		for {
			val, err := engine_util.GetCF(engines.Kv, engine_util.CfDefault, key)
			if err == nil && string(val) == want {
				break
			}
			if time.Now().After(deadline) {
				d.fatalf("round %d: store %d received a snapshot, but %v later its engine has %q = %q (err %v), want %q\n%s",
					round, storeID, engineWaitTimeout, key, val, err, want, d.progressReport())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// runClientLoop is one client: until stop, a random mix of appends to its
// own list, reads of that list, and puts and gets of the shared keys.
func (d *clusterDriver) runClientLoop(cli int, seed int64, stop *atomic.Bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("client %d: %v", cli, r)
		}
	}()
	rng := rand.New(rand.NewSource(seed))
	for !stop.Load() {
		switch p := rng.Intn(100); {
		case p < 40:
			err = d.appendOp(cli)
		case p < 55:
			err = d.readListOp(cli)
		case p < 80:
			err = d.putSharedOp(cli, sharedKeys[rng.Intn(len(sharedKeys))])
		default:
			err = d.getSharedOp(cli, sharedKeys[rng.Intn(len(sharedKeys))])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (d *clusterDriver) appendOp(cli int) error {
	seq := d.appended[cli]
	key, value := listElemKey(cli, seq), listElemValue(cli, seq)
	call := d.history.now()
	if _, err := d.cluster.request(key, []*raft_cmdpb.Request{NewPutCfCmd(engine_util.CfDefault, key, []byte(value))}, d.opTimeout); err != nil {
		return fmt.Errorf("client %d: append #%d: %v", cli, seq, err)
	}
	// A try that got no answer and lands later rewrites the same key with
	// the same value: appends are idempotent, one operation records them.
	d.history.add(cli, kvInput{Op: kvAppend, Key: listName(cli), Value: value}, kvOutput{}, call, d.history.now())
	d.appended[cli]++
	return nil
}

func (d *clusterDriver) readListOp(cli int) error {
	start, end := listRange(cli)
	call := d.history.now()
	pairs, err := d.cluster.scanPairs(engine_util.CfDefault, start, end, d.opTimeout)
	if err != nil {
		return fmt.Errorf("client %d: read own list: %v", cli, err)
	}
	ret := d.history.now()
	var list strings.Builder
	for _, kv := range pairs {
		list.Write(kv.value)
	}
	d.history.add(cli, kvInput{Op: kvGet, Key: listName(cli)}, kvOutput{Value: list.String()}, call, ret)
	if err := compareList(cli, pairs, d.appended[cli]); err != nil {
		return fmt.Errorf("client %d read its own list right after its appends: %v", cli, err)
	}
	return nil
}

func (d *clusterDriver) putSharedOp(cli int, key string) error {
	value := fmt.Sprintf("p %d %d", cli, d.puts[cli])
	d.puts[cli]++
	d.mayHaveWritten(key, value)
	in := kvInput{Op: kvPut, Key: key, Value: value}
	call := d.history.now()
	res, err := d.cluster.request([]byte(key), []*raft_cmdpb.Request{NewPutCfCmd(engine_util.CfDefault, []byte(key), []byte(value))}, d.opTimeout)
	if err != nil {
		return fmt.Errorf("client %d: put %q: %v", cli, key, err)
	}
	d.history.add(cli, in, kvOutput{}, call, d.history.now())
	// Tries that got no answer may still be applied, possibly after this
	// one: each is an operation of its own that never returns.
	d.history.addOpen(cli, in, call, res.unanswered)
	return nil
}

func (d *clusterDriver) getSharedOp(cli int, key string) error {
	call := d.history.now()
	res, err := d.cluster.request([]byte(key), []*raft_cmdpb.Request{NewGetCfCmd(engine_util.CfDefault, []byte(key))}, d.opTimeout)
	if err != nil {
		return fmt.Errorf("client %d: get %q: %v", cli, key, err)
	}
	ret := d.history.now()
	resps := res.resp.Responses
	if len(resps) != 1 || resps[0].Get == nil {
		return fmt.Errorf("client %d: get %q: want one get response, got %v", cli, key, res.resp)
	}
	d.history.add(cli, kvInput{Op: kvGet, Key: key}, kvOutput{Value: string(resps[0].Get.Value)}, call, ret)
	return nil
}

// compareList checks that client cli's list holds exactly its n appends,
// each once, in order.
func compareList(cli int, pairs []kvPair, n int) error {
	for i := 0; i < n || i < len(pairs); i++ {
		wantKey, wantValue := listElemKey(cli, i), listElemValue(cli, i)
		switch {
		case i >= len(pairs):
			return fmt.Errorf("%d of %d appends are present: element %d (key %q) and later are missing", len(pairs), n, i, wantKey)
		case i >= n:
			return fmt.Errorf("%d appends were made but the list has %d elements: unexpected key %q = %q", n, len(pairs), pairs[i].key, pairs[i].value)
		case !bytes.Equal(pairs[i].key, wantKey) || string(pairs[i].value) != wantValue:
			return fmt.Errorf("element %d of %d: want %q = %q, got %q = %q (lost, repeated or out of order)",
				i, n, wantKey, wantValue, pairs[i].key, pairs[i].value)
		}
	}
	return nil
}

// runChaos changes the network every election timeout or so until stop:
// a new random partition and/or an unreliable network.
func (d *clusterDriver) runChaos(stop *atomic.Bool, seed int64, done chan<- struct{}) {
	defer close(done)
	if !d.sc.unreliable && !d.sc.partitions {
		return
	}
	rng := rand.New(rand.NewSource(seed))
	// Let the clients work on a healthy cluster first.
	sleepUnless(stop, 300*time.Millisecond)
	for !stop.Load() {
		d.cluster.ClearFilters()
		if d.sc.partitions {
			s1, s2 := randomSplit(rng, d.sc.stores)
			d.cluster.AddFilter(NewPartitionFilter(s1, s2))
		}
		if d.sc.unreliable {
			d.cluster.AddFilter(&DropFilter{})
			d.cluster.AddFilter(&DelayFilter{MaxDelay: 20 * time.Millisecond})
		}
		sleepUnless(stop, d.electionTimeout+time.Duration(rng.Int63n(int64(200*time.Millisecond))))
	}
}

// randomSplit puts each store on one side or the other at random.
func randomSplit(rng *rand.Rand, stores int) (s1, s2 []uint64) {
	for id := uint64(1); id <= uint64(stores); id++ {
		if rng.Intn(2) == 0 {
			s1 = append(s1, id)
		} else {
			s2 = append(s2, id)
		}
	}
	return s1, s2
}

// sleepUnless sleeps d, waking early once stop is set.
func sleepUnless(stop *atomic.Bool, d time.Duration) {
	deadline := time.Now().Add(d)
	for !stop.Load() && time.Now().Before(deadline) {
		time.Sleep(minDuration(10*time.Millisecond, time.Until(deadline)))
	}
}

// lagWaitLimit bounds how long a lagging store stays down waiting for the
// others to compact their logs past it.
const lagWaitLimit = 15 * time.Second

// lagResult is what happened to a round's lagging store.
type lagResult struct {
	store           uint64
	lastIndex       uint64 // its last log entry when it stopped
	snapshotsBefore int    // snapshots it had received before
	needed          bool   // the others compacted past lastIndex: only a snapshot can catch it up
	err             error
}

// runLagger, in a lagger scenario, stops store id a quarter into the round,
// waits until the running stores have compacted their logs past the last
// entry it holds, and starts it again.
func (d *clusterDriver) runLagger(id uint64) lagResult {
	res := lagResult{store: id}
	if !d.sc.lagger {
		return res
	}
	time.Sleep(d.sc.roundTime / 4)
	region := d.cluster.GetRegion(nil)
	d.cluster.StopServer(id)
	raftState, err := meta.GetRaftLocalState(d.cluster.engines[id].Raft, region.Id)
	if err != nil {
		d.cluster.StartServer(id)
		res.err = fmt.Errorf("lagging store %d: read its raft state: %v", id, err)
		return res
	}
	res.lastIndex = raftState.LastIndex
	res.snapshotsBefore = d.cluster.transport().SnapshotsSentTo(id)
	res.needed = d.waitCompactedPast(id, region.Id, raftState.LastIndex)
	d.cluster.StartServer(id)
	return res
}

// waitCompactedPast waits until every other store has compacted its log
// past lastIndex, so that whichever becomes leader must send the stopped
// store a snapshot (a store that has not compacted yet could send it the
// entries instead); false when that did not happen within lagWaitLimit.
func (d *clusterDriver) waitCompactedPast(stopped, regionID, lastIndex uint64) bool {
	deadline := time.Now().Add(lagWaitLimit)
	for time.Now().Before(deadline) {
		all := true
		for id, engines := range d.cluster.engines {
			if id == stopped {
				continue
			}
			state, err := meta.GetApplyState(engines.Kv, regionID)
			if err != nil || state.GetTruncatedState().GetIndex() <= lastIndex {
				all = false
				break
			}
		}
		if all {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// progressReport describes, store by store, how far each one is with
// region 1: what it applied, where its log starts and ends.
func (d *clusterDriver) progressReport() string {
	var b strings.Builder
	for id := uint64(1); id <= uint64(d.sc.stores); id++ {
		engines := d.cluster.engines[id]
		fmt.Fprintf(&b, "\tstore %d:", id)
		if apply, err := meta.GetApplyState(engines.Kv, 1); err == nil {
			fmt.Fprintf(&b, " applied %d, truncated at %d", apply.AppliedIndex, apply.GetTruncatedState().GetIndex())
		} else {
			fmt.Fprintf(&b, " no apply state (%v)", err)
		}
		if raftState, err := meta.GetRaftLocalState(engines.Raft, 1); err == nil {
			fmt.Fprintf(&b, ", last log entry %d, term %d, commit %d", raftState.LastIndex,
				raftState.GetHardState().GetTerm(), raftState.GetHardState().GetCommit())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// restartAllStores crashes every store and starts them again.
func (d *clusterDriver) restartAllStores() {
	if d.durable != nil {
		// The clients have stopped, and a store whose last write was synced
		// (a log compaction is, and comes often with a small GC limit) loses
		// nothing to the power loss: with few operations in a round, all
		// may. One put acknowledged right before the crash leaves its apply
		// unsynced on the leader at least (seed 1796141519976099241 once
		// lost none in a whole run).
		d.crashes++
		key, value := fmt.Sprintf("power-loss-%03d", d.crashes), "put right before the crash"
		d.mayHaveWritten(key, value)
		d.cluster.MustPut([]byte(key), []byte(value))
	}
	for id := uint64(1); id <= uint64(d.sc.stores); id++ {
		d.cluster.StopServer(id)
	}
	if d.durable != nil {
		for id := uint64(1); id <= uint64(d.sc.stores); id++ {
			if err := d.durable.loseUnsynced(id, d.cluster.engines[id]); err != nil {
				d.fatalf("power loss: %v", err)
			}
		}
	}
	time.Sleep(d.electionTimeout)
	for id := uint64(1); id <= uint64(d.sc.stores); id++ {
		d.cluster.StartServer(id)
	}
}

// checkAppends reads every client's list: each append made so far must be
// there once, in order.
func (d *clusterDriver) checkAppends(round int) {
	for cli := 0; cli < d.sc.clients; cli++ {
		start, end := listRange(cli)
		pairs, err := d.cluster.scanPairs(engine_util.CfDefault, start, end, d.opTimeout)
		if err != nil {
			d.fatalf("after round %d: read the list of client %d: %v", round, cli, err)
		}
		if err := compareList(cli, pairs, d.appended[cli]); err != nil {
			d.fatalf("after round %d: list of client %d: %v", round, cli, err)
		}
	}
}

// checkFullScan reads the whole key space, region by region, and compares
// it with what the clients wrote: every append once and in order, every
// other key with a value some try wrote, no key that nobody wrote, keys in
// strictly increasing order (a region that answers with a sibling's keys
// repeats or reorders them).
func (d *clusterDriver) checkFullScan(round int) {
	pairs, regions, err := d.cluster.scanRegions(engine_util.CfDefault, nil, nil, d.opTimeout)
	if err != nil {
		d.fatalf("after round %d: scan of the whole key space: %v", round, err)
	}
	d.regions = regions
	seen := make([]int, d.sc.clients)
	d.writtenMu.Lock()
	defer d.writtenMu.Unlock()
	for i, kv := range pairs {
		if i > 0 && bytes.Compare(pairs[i-1].key, kv.key) >= 0 {
			d.fatalf("after round %d: a scan over %d regions returned key %q after %q: keys repeated or out of order "+
				"(does a region answer with keys outside its range?)", round, regions, kv.key, pairs[i-1].key)
		}
		var cli, seq int
		if n, _ := fmt.Sscanf(string(kv.key), "c%02d/%08d", &cli, &seq); n == 2 && cli < d.sc.clients {
			if seq != seen[cli] || string(kv.value) != listElemValue(cli, seq) {
				d.fatalf("after round %d: scan over %d regions: key %q = %q, want element %d of client %d's list = %q",
					round, regions, kv.key, kv.value, seen[cli], cli, listElemValue(cli, seen[cli]))
			}
			seen[cli]++
			continue
		}
		if !d.written[string(kv.key)][string(kv.value)] {
			d.fatalf("after round %d: scan over %d regions returned %q = %q, which no client wrote", round, regions, kv.key, kv.value)
		}
	}
	for cli := range seen {
		if seen[cli] != d.appended[cli] {
			d.fatalf("after round %d: scan over %d regions holds %d elements of client %d's list, %d were appended",
				round, regions, seen[cli], cli, d.appended[cli])
		}
	}
}

// confChanger adds and removes peers of random regions until stopped.
type confChanger struct {
	quit atomic.Bool
	done chan error
}

// startConfChanger starts the conf changer of a confChange scenario (an
// idle one otherwise).
func (d *clusterDriver) startConfChanger() *confChanger {
	ch := &confChanger{done: make(chan error, 1)}
	if !d.sc.confChange {
		ch.done <- nil
		return ch
	}
	go ch.run(d, d.rng.Int63())
	return ch
}

func (ch *confChanger) run(d *clusterDriver, seed int64) {
	var err error
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("conf changer: %v", r)
		}
		ch.done <- err
	}()
	rng := rand.New(rand.NewSource(seed))
	for !ch.quit.Load() {
		region := d.cluster.GetRandomRegion()
		storeID := uint64(rng.Intn(d.sc.stores) + 1)
		if p := FindPeer(region, storeID); p != nil {
			if len(region.Peers) > d.sc.minReplicas {
				d.cluster.MustRemovePeer(region.Id, p)
				d.confChanges.Add(1)
			}
		} else {
			d.cluster.MustAddPeer(region.Id, d.cluster.AllocPeer(storeID))
			d.confChanges.Add(1)
		}
		time.Sleep(time.Duration(rng.Int63n(int64(200 * time.Millisecond))))
	}
}

// check fails the test if the conf changer has failed.
func (ch *confChanger) check(d *clusterDriver, round int) {
	select {
	case err := <-ch.done:
		if err != nil {
			d.fatalf("round %d: %v", round, err)
		}
		ch.done <- nil
	default:
	}
}

// stop stops the conf changer and fails the test if it failed.
func (ch *confChanger) stop(d *clusterDriver) {
	ch.quit.Store(true)
	if err := <-ch.done; err != nil {
		d.fatalf("%v", err)
	}
	if d.sc.confChange && d.confChanges.Load() == 0 {
		d.fatalf("the conf changer made no membership change in the whole run")
	}
}

// checkEngineLayout checks where every store keeps each region's states:
// the region state and the apply state in kvdb (the apply state written in
// the batch of the data it covers), never the apply state in raftdb.
func (d *clusterDriver) checkEngineLayout(round int) {
	for _, regionID := range d.cluster.schedulerClient.regionIDs() {
		for storeID, engines := range d.cluster.engines {
			inRaftDB := engines.Raft.View(func(txn *badger.Txn) error {
				_, err := txn.Get(meta.ApplyStateKey(regionID))
				return err
			}) == nil
			if inRaftDB {
				d.fatalf("after round %d: store %d keeps the apply state of region %d in raftdb: it belongs in kvdb, "+
					"written in the same batch as the data it covers (else a crash leaves them disagreeing)", round, storeID, regionID)
			}
			state, err := meta.GetRegionLocalState(engines.Kv, regionID)
			if err != nil || state.State != raft_serverpb.PeerState_Normal {
				continue
			}
			if _, err := meta.GetApplyState(engines.Kv, regionID); err != nil {
				d.fatalf("after round %d: store %d holds region %d (region state %v in kvdb) but kvdb has no apply state for it: %v",
					round, storeID, regionID, state.Region, err)
			}
		}
	}
}

// checkLogTrimmed checks, one second after the clients stopped, that every
// store keeps at most 2*maxRaftLog applied entries of every region.
func (d *clusterDriver) checkLogTrimmed(round int) {
	time.Sleep(time.Second)
	limit := 2 * d.sc.maxRaftLog
	for _, regionID := range d.cluster.schedulerClient.regionIDs() {
		for storeID, engines := range d.cluster.engines {
			state, err := meta.GetApplyState(engines.Kv, regionID)
			if err == badger.ErrKeyNotFound {
				continue
			}
			if err != nil {
				d.fatalf("after round %d: store %d region %d: read the apply state: %v", round, storeID, regionID, err)
			}
			truncated := state.GetTruncatedState()
			if term, ok := d.cluster.transport().checks.committedTerm(regionID, truncated.GetIndex()); ok && truncated.GetIndex() > meta.RaftInitLogIndex && term != truncated.GetTerm() {
				d.fatalf("after round %d: store %d region %d: truncated state %v, but the committed entry at index %d has term %d: "+
					"TruncatedState.Term must be the term of the entry at TruncatedState.Index", round, storeID, regionID, truncated, truncated.GetIndex(), term)
			}
			if kept := state.AppliedIndex - state.GetTruncatedState().GetIndex(); kept > limit {
				d.fatalf("after round %d: store %d region %d keeps %d applied log entries (applied %d, truncated %d); "+
					"with RaftLogGcCountLimit %d at most %d may remain one second after the clients stop",
					round, storeID, regionID, kept, state.AppliedIndex, state.GetTruncatedState().GetIndex(), d.sc.maxRaftLog, limit)
			}
		}
	}
}

// answerWait bounds how long a settled cluster may take to answer the
// commands still waiting.
const answerWait = 10 * time.Second

// checkAllAnswered heals the network and keeps every region's log moving
// (a Snap per region) until every command sent to a store that is still
// running has been answered: a store must answer each proposal exactly once,
// an error included, even when a new leader's entries took its place.
func (d *clusterDriver) checkAllAnswered() {
	sim, ok := d.cluster.simulator.(*NodeSimulator)
	if !ok {
		return
	}
	d.cluster.ClearFilters()
	deadline := time.Now().Add(answerWait)
	for {
		waiting := sim.unanswered()
		if len(waiting) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c := waiting[0]
			d.fatalf("%d command(s) sent to running stores got no answer, %v after the clients stopped on a healed network; "+
				"e.g. %s sent to store %d %v before: every proposal must be answered (an error when it cannot be applied), "+
				"or its client waits forever", len(waiting), answerWait, c.what(), c.storeID, time.Since(c.at).Round(time.Millisecond))
		}
		for _, regionID := range d.cluster.schedulerClient.regionIDs() {
			region, _, _ := d.cluster.schedulerClient.GetRegionByID(context.Background(), regionID)
			if region == nil {
				continue
			}
			res, err := d.cluster.request(region.StartKey, []*raft_cmdpb.Request{NewSnapCmd()}, time.Second)
			if err == nil {
				discardTxn(res.txn)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkHistory checks the whole history for linearizability.
func (d *clusterDriver) checkHistory() {
	ops := d.history.operations()
	start := time.Now()
	verdict := checkLinearizable(ops, d.t.Name())
	d.cluster.note = fmt.Sprintf("clients=%d ops=%d regions=%d confchanges=%d linearizability=%s in %.1fs",
		d.sc.clients, len(ops), d.regions, d.confChanges.Load(), verdict.result, time.Since(start).Seconds())
	switch verdict.result {
	case porcupine.Illegal:
		where := verdict.visualization
		if verdict.err != nil {
			where = fmt.Sprintf("%s (drawing failed: %v)", where, verdict.err)
		}
		d.fatalf("the history of %d operations is not linearizable: some read saw a value that no order of the "+
			"operations explains (a lost or repeated write, or a stale read). Open %s in a browser to see it", len(ops), where)
	case porcupine.Unknown:
		d.t.Logf("linearizability check of %d operations gave up after %v; history not checked", len(ops), linearizabilityTimeout)
	}
}
