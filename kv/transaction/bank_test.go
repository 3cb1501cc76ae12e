package transaction_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/storage"
	"github.com/tinykv-lab/tinykv/kv/storage/standalone_storage"
	"github.com/tinykv-lab/tinykv/kv/transaction/txntest"
)

// seedEnv replays a failed randomised test: TXN_SEED=<seed> go test -run ...
const seedEnv = "TXN_SEED"

// testSeed is the seed of a randomised test, from TXN_SEED or the clock.
// A failing test prints it.
func testSeed(t *testing.T) int64 {
	seed := time.Now().UnixNano()
	if env := os.Getenv(seedEnv); env != "" {
		parsed, err := strconv.ParseInt(env, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q is not a number", seedEnv, env)
		}
		seed = parsed
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with %s=%d go test -run '^%s$'", seed, seedEnv, seed, t.Name())
		}
	})
	return seed
}

func runBankTest(t *testing.T, store storage.Storage, cfg txntest.BankConfig) {
	report, err := txntest.RunBank(store, cfg)
	if err != nil {
		t.Fatalf("%v\n(%v)", err, report)
	}
	t.Logf("bank: %v", report)
	if report.Committed == 0 || report.Crashed == 0 {
		t.Fatalf("the run proves little: want committed and crashed transfers, got %v", report)
	}
	resolved := report.Resolve.Committed.Load() + report.Resolve.RolledBack.Load()
	if resolved == 0 {
		t.Fatalf("no client resolved a lock of a crashed one: %v", report)
	}
}

// TestTxnBankMemStorage4C: concurrent transfers, some abandoned half way,
// keep the total in every snapshot, over MemStorage.
func TestTxnBankMemStorage4C(t *testing.T) {
	runBankTest(t, &serialReaders{MemStorage: storage.NewMemStorage(), pause: 20 * time.Microsecond}, txntest.BankConfig{Seed: testSeed(t), Scan: true})
}

// TestTxnBankStandalone4C is the bank workload over badger.
func TestTxnBankStandalone4C(t *testing.T) {
	conf := config.NewTestConfig()
	conf.DBPath = t.TempDir()
	store := standalone_storage.NewStandAloneStorage(conf)
	if err := store.Start(); err != nil {
		t.Fatalf("start standalone storage in %s: %v", conf.DBPath, err)
	}
	defer func() {
		if err := store.Stop(); err != nil {
			t.Errorf("stop standalone storage: %v", err)
		}
	}()
	runBankTest(t, store, txntest.BankConfig{Seed: testSeed(t), Scan: true})
}
