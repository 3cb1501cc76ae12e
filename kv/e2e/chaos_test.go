package e2e

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/kv/transaction/txntest"
)

// chaosDuration bounds the faults of the chaos run.
const chaosDuration = 25 * time.Second

// kvInput and kvOutput are one raw operation in the porcupine history.
type kvInput struct {
	put        bool
	key, value string
}

type kvOutput struct {
	value   string
	unknown bool // a put that got no answer: it may or may not have happened
}

// kvModel is a register per key: a get reads the last put.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := make(map[string][]porcupine.Operation)
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in, out := input.(kvInput), output.(kvOutput)
		if in.put {
			return true, in.value
		}
		return out.value == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in, out := input.(kvInput), output.(kvOutput)
		if in.put {
			return fmt.Sprintf("put(%s, %s) unknown=%v", in.key, in.value, out.unknown)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, out.value)
	},
}

// history records raw operations for porcupine.
type history struct {
	mu   sync.Mutex
	base time.Time
	ops  []porcupine.Operation
}

func (h *history) now() int64 { return int64(time.Since(h.base)) }

func (h *history) add(client int, in kvInput, out kvOutput, call, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
}

// TestChaos: for a bounded time a nemesis kills (-9), pauses (SIGSTOP, then
// SIGCONT) and restarts one server at a time, while clients run raw gets
// and puts (the history must be linearizable: porcupine) and bank transfers
// in transactions, some abandoned half way (every snapshot must hold the
// opening total). A failure prints the seed and keeps the logs.
//
// Each raw key has one writer (every client reads every key). A raw put
// is not idempotent: when an attempt fails without an answer (a store
// killed or stopped with the proposal in flight) the client sends it again,
// and the first attempt may still be applied, so a put can take effect
// twice. With one writer per key both applications come before the put is
// acknowledged and are invisible; with two writers the second application
// can land after the other writer's put, which is not linearizable (a run
// found it). That is the raw API's contract, as in TiKV's raw API; writers
// that share keys use transactions.
func TestChaos(t *testing.T) {
	start := time.Now()
	seed := testSeed(t)
	rng := rand.New(rand.NewSource(seed))
	tc := startCluster(t, options{stores: 3})
	tc.waitReplicas(3, time.Minute)
	// Short locks: a client that walks away holds its keys for 500 ms.
	txnClient := client.New(tc.sched, client.Options{Timeout: 30 * time.Second, Seed: seed, Txn: percolator.Options{LockTTL: 500}})
	defer txnClient.Close()

	done := make(chan struct{})
	var faults []string
	var nemesis sync.WaitGroup
	nemesis.Add(1)
	go func() {
		defer nemesis.Done()
		faults = runNemesis(tc, rand.New(rand.NewSource(rng.Int63())), done)
	}()

	h := &history{base: time.Now()}
	var clients sync.WaitGroup
	for c := 0; c < 4; c++ {
		clients.Add(1)
		go func(c int, rng *rand.Rand) {
			defer clients.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				// Each client writes keys of its own and reads everyone's (see
				// the test's comment).
				writer := c
				if rng.Intn(2) == 0 {
					writer = rng.Intn(4)
				}
				key := fmt.Sprintf("reg-%d-%d", writer, rng.Intn(2))
				opCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				call := h.now()
				if writer == c && rng.Intn(2) == 0 {
					value := fmt.Sprintf("c%d-%d", c, i)
					err := tc.kv.Put(opCtx, []byte(key), []byte(value))
					if err != nil {
						// Unknown outcome: it may take effect any time later.
						h.add(c, kvInput{put: true, key: key, value: value}, kvOutput{unknown: true}, call, 1<<62)
					} else {
						h.add(c, kvInput{put: true, key: key, value: value}, kvOutput{}, call, h.now())
					}
				} else {
					value, err := tc.kv.Get(opCtx, []byte(key))
					if err == nil || isNotFound(err) {
						h.add(c, kvInput{key: key}, kvOutput{value: string(value)}, call, h.now())
					}
				}
				cancel()
			}
		}(c, rand.New(rand.NewSource(rng.Int63())))
	}

	// Bank runs one after another (each on accounts of its own) until the
	// faults end.
	var reports []*txntest.BankReport
	var committed int64
	for run := 0; time.Since(start) < chaosDuration; run++ {
		bankCtx, cancelBank := context.WithTimeout(context.Background(), 3*time.Minute)
		report, err := txntest.RunBankWith(txnClient.Txn(), txnClient, txntest.BankConfig{
			Seed: seed + int64(run), Accounts: 6, Clients: 3, Transfers: 20, Scan: true, AllowUnknown: true,
			Context: bankCtx, KeyPrefix: fmt.Sprintf("bank-%d/", run),
		})
		cancelBank()
		if err != nil {
			close(done)
			clients.Wait()
			nemesis.Wait()
			t.Fatalf("bank run %d under faults %v: %v\n(%v)", run, faults, err, report)
		}
		reports = append(reports, report)
		committed += report.Committed
	}
	close(done)
	clients.Wait()
	nemesis.Wait()

	tc.waitReplicas(3, time.Minute)
	result, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, time.Minute)
	if result == porcupine.Illegal {
		path := tc.dir + "/history.html"
		if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
			t.Logf("the history is drawn in %s", path)
		}
		t.Fatalf("the raw history of %d operations under faults %v is not linearizable", len(h.ops), faults)
	}
	if result == porcupine.Unknown {
		t.Logf("porcupine could not decide on the history within a minute (%d operations); not a failure", len(h.ops))
	}
	if committed == 0 {
		t.Fatalf("no transfer committed under faults: %v", reports)
	}
	passed(t, start, "faults %v; %d raw operations linearizable; %d bank runs, %d transfers committed, the last: %v",
		faults, len(h.ops), len(reports), committed, reports[len(reports)-1])
}

// runNemesis disturbs one server at a time until done: kill -9 and start
// again, SIGSTOP and SIGCONT, or a clean restart. It leaves every server
// running and returns what it did.
func runNemesis(tc *testCluster, rng *rand.Rand, done <-chan struct{}) []string {
	var faults []string
	pause := func(d time.Duration) bool {
		select {
		case <-done:
			return false
		case <-time.After(d):
			return true
		}
	}
	for {
		if !pause(time.Duration(500+rng.Intn(1500)) * time.Millisecond) {
			return faults
		}
		p := tc.Stores[rng.Intn(len(tc.Stores))]
		outage := time.Duration(1000+rng.Intn(2000)) * time.Millisecond
		switch rng.Intn(3) {
		case 0:
			faults = append(faults, "kill "+p.Name)
			p.Kill()
			time.Sleep(outage)
			if err := p.Start(); err != nil {
				tc.t.Errorf("nemesis: restart %s: %v", p.Name, err)
				return faults
			}
		case 1:
			faults = append(faults, "pause "+p.Name)
			p.Pause()
			time.Sleep(outage)
			p.Resume()
		case 2:
			faults = append(faults, "restart "+p.Name)
			if err := p.Stop(stopTimeout); err != nil {
				tc.t.Errorf("nemesis: clean stop of %s: %v", p.Name, err)
			}
			if err := p.Start(); err != nil {
				tc.t.Errorf("nemesis: restart %s: %v", p.Name, err)
				return faults
			}
		}
		// Let the disturbed store catch up before the next fault.
		time.Sleep(time.Second)
	}
}

// stopTimeout bounds a clean stop in the tests.
const stopTimeout = 20 * time.Second
