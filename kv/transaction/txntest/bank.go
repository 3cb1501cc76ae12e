package txntest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinykv-lab/tinykv/kv/client/percolator"
	"github.com/tinykv-lab/tinykv/kv/server"
	"github.com/tinykv-lab/tinykv/kv/storage"
)

// BankConfig shapes the bank workload. Zero fields take the defaults.
type BankConfig struct {
	Seed      int64  // seeds every random choice (the interleaving is up to the scheduler)
	Accounts  int    // number of accounts (default 6)
	Balance   int64  // opening balance of each account (default 100)
	Clients   int    // concurrent clients moving money (default 4)
	Transfers int    // transfers each client attempts (default 40)
	LockTTL   uint64 // lock TTL in virtual milliseconds, one per timestamp (default 30)
	// CrashPercent is the share of transfers whose client walks away in the
	// middle of the commit (default 15; negative for none).
	CrashPercent int
	// Scan makes the auditors read with KvScan too, which needs all accounts
	// in one region.
	Scan bool
	// Route names each key's region (nil for a single storage).
	Route Router
	// KeyPrefix starts every account key (default "bank/").
	KeyPrefix string
	// AllowUnknown accepts transfers and reads that fail without an answer
	// (a store or the scheduler down): such a transfer may or may not have
	// committed, so the final check is on the total only. For runs that
	// kill processes.
	AllowUnknown bool
	// Context bounds the run (default: none).
	Context context.Context
}

func (cfg BankConfig) withDefaults() BankConfig {
	setDefault := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	setDefault(&cfg.Accounts, 6)
	setDefault(&cfg.Clients, 4)
	setDefault(&cfg.Transfers, 40)
	setDefault(&cfg.CrashPercent, 15)
	if cfg.Balance == 0 {
		cfg.Balance = 100
	}
	if cfg.LockTTL == 0 {
		cfg.LockTTL = 30
	}
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "bank/"
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	return cfg
}

// BankReport says what a bank run did.
type BankReport struct {
	Committed   int64 // transfers committed by their client
	Aborted     int64 // transfers that hit a conflict or a lock and gave up
	Crashed     int64 // transfers whose client walked away mid-commit
	CrashedLive int64 // of those, the ones already committed (past the primary)
	Unknown     int64 // transfers that failed without an answer (AllowUnknown)
	Audits      int64 // snapshot reads of all accounts
	Rereads     int64 // audits that read an earlier snapshot again
	FailedReads int64 // audits that failed without an answer (AllowUnknown)
	Resolve     *ResolveStats
	Elapsed     time.Duration
}

func (r *BankReport) String() string {
	return fmt.Sprintf("%d committed, %d aborted, %d crashed (%d of them committed), %d unknown, %d audits (%d re-reads, %d failed), "+
		"locks resolved: %d committed, %d rolled back, %d expired primaries, %d waits on live locks; %v",
		r.Committed, r.Aborted, r.Crashed, r.CrashedLive, r.Unknown, r.Audits, r.Rereads, r.FailedReads,
		r.Resolve.Committed.Load(), r.Resolve.RolledBack.Load(), r.Resolve.Expired.Load(), r.Resolve.Waited.Load(),
		r.Elapsed.Round(time.Millisecond))
}

// RunBank runs the bank workload against a Server over store (started by
// the caller, who also stops it).
func RunBank(store storage.Storage, cfg BankConfig) (*BankReport, error) {
	return RunBankOn(server.NewServer(store), cfg)
}

// RunBankOn runs the bank workload against kv: cfg.Clients clients move
// random amounts between cfg.Accounts accounts in transactions, and some
// walk away in the middle of a commit. Meanwhile an auditor reads all
// accounts at new and at past timestamps: every snapshot must hold the
// opening total, and a snapshot read twice must read the same. At the end
// every account must hold its opening balance plus the transfers its
// clients saw commit. The error says what broke and the seed.
func RunBankOn(kv TxnKV, cfg BankConfig) (*BankReport, error) {
	cfg = cfg.withDefaults()
	oracle := NewOracle()
	stats := new(ResolveStats)
	return runBank(NewClient(kv, oracle, cfg.Route, cfg.LockTTL, stats), oracle, stats, cfg)
}

// RunBankWith runs the bank workload through client, whose timestamps come
// from oracle (a real cluster through kv/client, say); cfg.Route and
// cfg.LockTTL are the client's business and are ignored.
func RunBankWith(client *Client, oracle percolator.Oracle, cfg BankConfig) (*BankReport, error) {
	return runBank(client, oracle, client.Stats(), cfg.withDefaults())
}

func runBank(client *Client, oracle percolator.Oracle, stats *ResolveStats, cfg BankConfig) (*BankReport, error) {
	b := &bank{cfg: cfg, ctx: cfg.Context, oracle: oracle, client: client, report: &BankReport{Resolve: stats}}
	b.snapshots = make(map[uint64][]int64)
	start := time.Now()
	err := b.run()
	b.report.Elapsed = time.Since(start)
	if err != nil {
		return b.report, fmt.Errorf("bank workload (seed %d): %v", cfg.Seed, err)
	}
	return b.report, nil
}

type bank struct {
	cfg    BankConfig
	ctx    context.Context
	oracle percolator.Oracle
	client *Client
	report *BankReport
	openTs uint64        // commit ts of the opening transaction
	latest atomic.Uint64 // newest timestamp the auditor took
	// unknown: some transfer ended without an answer (AllowUnknown).
	unknown atomic.Bool

	failed  atomic.Bool
	errOnce sync.Once
	err     error
	// Balances read at some timestamps, to read again later (auditor only).
	snapshots  map[uint64][]int64
	snapshotTs []uint64
}

// maxSnapshots bounds the snapshots kept for re-reading.
const maxSnapshots = 64

func (b *bank) run() error {
	if err := b.open(); err != nil {
		return err
	}
	deltas := make([][]int64, b.cfg.Clients)
	var clients, auditor sync.WaitGroup
	stop := make(chan struct{})
	auditor.Add(1)
	go func() {
		defer auditor.Done()
		b.fail(b.audit(rand.New(rand.NewSource(b.cfg.Seed)), stop))
	}()
	for i := range deltas {
		deltas[i] = make([]int64, b.cfg.Accounts)
		clients.Add(1)
		go func(id int) {
			defer clients.Done()
			b.fail(b.transfers(rand.New(rand.NewSource(b.cfg.Seed+int64(id)+1)), deltas[id]))
		}(i)
	}
	clients.Wait()
	close(stop)
	auditor.Wait()
	if b.err != nil {
		return b.err
	}
	return b.checkFinal(deltas)
}

// fail records the first error and tells everyone to stop.
func (b *bank) fail(err error) {
	if err == nil {
		return
	}
	b.errOnce.Do(func() {
		b.err = err
		b.failed.Store(true)
	})
}

func (b *bank) key(account int) []byte {
	return []byte(fmt.Sprintf("%s%03d", b.cfg.KeyPrefix, account))
}

// open gives every account its opening balance in one transaction.
func (b *bank) open() error {
	txn, err := b.client.Begin(b.ctx)
	if err != nil {
		return fmt.Errorf("opening the accounts: %v", err)
	}
	for i := 0; i < b.cfg.Accounts; i++ {
		txn.Set(b.key(i), []byte(strconv.FormatInt(b.cfg.Balance, 10)))
	}
	commitTs, err := txn.Commit(b.ctx)
	if err != nil {
		return fmt.Errorf("opening the accounts: %v", err)
	}
	b.openTs = commitTs
	b.latest.Store(commitTs)
	return nil
}

// timestamp takes a new timestamp for the auditor.
func (b *bank) timestamp() (uint64, error) {
	ts, err := b.oracle.Timestamp(b.ctx)
	if err != nil {
		return 0, err
	}
	if ts > b.latest.Load() {
		b.latest.Store(ts)
	}
	return ts, nil
}

// transfers is one client: it moves money and adds what committed to deltas.
func (b *bank) transfers(rng *rand.Rand, deltas []int64) error {
	for i := 0; i < b.cfg.Transfers && !b.failed.Load(); i++ {
		from := rng.Intn(b.cfg.Accounts)
		to := (from + 1 + rng.Intn(b.cfg.Accounts-1)) % b.cfg.Accounts
		amount := 1 + rng.Int63n(20)
		crash := NoCrash
		if rng.Intn(100) < b.cfg.CrashPercent {
			crash = CrashPoint(1 + rng.Intn(3))
		}
		committed, err := b.transfer(from, to, amount, crash)
		if err != nil && b.cfg.AllowUnknown && b.ctx.Err() == nil {
			atomic.AddInt64(&b.report.Unknown, 1)
			b.unknown.Store(true)
			continue
		}
		if err != nil {
			return fmt.Errorf("transfer %d of %d from account %d to %d (%v): %v", i, amount, from, to, crash, err)
		}
		if committed {
			deltas[from] -= amount
			deltas[to] += amount
		}
	}
	return nil
}

// transfer moves amount in one transaction and reports whether it committed.
func (b *bank) transfer(from, to int, amount int64, crash CrashPoint) (bool, error) {
	txn, err := b.client.Begin(b.ctx)
	if err != nil {
		return false, err
	}
	fromBalance, err := b.balance(txn.Get(b.ctx, b.key(from)))
	if err != nil {
		return false, err
	}
	toBalance, err := b.balance(txn.Get(b.ctx, b.key(to)))
	if err != nil {
		return false, err
	}
	txn.Set(b.key(from), []byte(strconv.FormatInt(fromBalance-amount, 10)))
	txn.Set(b.key(to), []byte(strconv.FormatInt(toBalance+amount, 10)))
	if crash != NoCrash {
		committed, err := txn.CommitAndCrash(b.ctx, crash)
		return b.count(committed, err, crash)
	}
	_, err = txn.Commit(b.ctx)
	return b.count(err == nil, err, crash)
}

// count adds a transfer's outcome to the report.
func (b *bank) count(committed bool, err error, crash CrashPoint) (bool, error) {
	switch {
	case isAbort(err):
		atomic.AddInt64(&b.report.Aborted, 1)
		return false, nil
	case err != nil:
		return false, err
	case crash != NoCrash:
		atomic.AddInt64(&b.report.Crashed, 1)
		if committed {
			atomic.AddInt64(&b.report.CrashedLive, 1)
		}
	default:
		atomic.AddInt64(&b.report.Committed, 1)
	}
	return committed, nil
}

func (b *bank) balance(value []byte, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	if value == nil {
		return 0, fmt.Errorf("an account has no value")
	}
	balance, err := strconv.ParseInt(string(value), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("an account holds %q, not a balance", value)
	}
	return balance, nil
}

// audit reads all accounts at new and at past timestamps until stop.
func (b *bank) audit(rng *rand.Rand, stop <-chan struct{}) error {
	for !b.failed.Load() {
		select {
		case <-stop:
			return nil
		default:
		}
		var ts uint64
		switch choice := rng.Intn(4); {
		case choice == 0 && len(b.snapshotTs) > 0:
			ts = b.snapshotTs[rng.Intn(len(b.snapshotTs))]
		case choice == 1:
			// Any time since the accounts opened is a valid snapshot.
			ts = b.openTs + uint64(rng.Int63n(int64(b.latest.Load()-b.openTs)+1))
		default:
			var err error
			if ts, err = b.timestamp(); err != nil {
				if b.cfg.AllowUnknown {
					atomic.AddInt64(&b.report.FailedReads, 1)
					continue
				}
				return fmt.Errorf("audit: no timestamp: %v", err)
			}
		}
		if err := b.auditAt(ts); err != nil {
			var broken *brokenRule
			if b.cfg.AllowUnknown && !errors.As(err, &broken) {
				atomic.AddInt64(&b.report.FailedReads, 1)
				continue
			}
			return err
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// auditAt reads every account at ts and checks the total, and the balances
// against an earlier read at the same ts.
func (b *bank) auditAt(ts uint64) error {
	balances, err := b.readAll(ts)
	if err != nil {
		return err
	}
	atomic.AddInt64(&b.report.Audits, 1)
	if earlier, ok := b.snapshots[ts]; ok {
		atomic.AddInt64(&b.report.Rereads, 1)
		if fmt.Sprint(earlier) != fmt.Sprint(balances) {
			return broke("snapshot at ts %d changed: read %v, later %v", ts, earlier, balances)
		}
	} else if len(b.snapshotTs) < maxSnapshots {
		b.snapshots[ts] = balances
		b.snapshotTs = append(b.snapshotTs, ts)
	}
	if b.cfg.Scan {
		return b.checkScan(ts, balances)
	}
	return nil
}

// readAll reads every account at ts and checks that the total holds.
func (b *bank) readAll(ts uint64) ([]int64, error) {
	balances := make([]int64, b.cfg.Accounts)
	var total int64
	for i := range balances {
		balance, err := b.balance(b.client.Get(b.ctx, b.key(i), ts))
		if err != nil {
			return nil, fmt.Errorf("audit at ts %d, account %d: %v", ts, i, err)
		}
		balances[i] = balance
		total += balance
	}
	if want := b.cfg.Balance * int64(b.cfg.Accounts); total != want {
		return nil, broke("snapshot at ts %d holds %d in total, want %d: balances %v", ts, total, want, balances)
	}
	return balances, nil
}

// checkScan reads the accounts again with one scan at ts and compares.
func (b *bank) checkScan(ts uint64, balances []int64) error {
	pairs, err := b.client.Scan(b.ctx, []byte(b.cfg.KeyPrefix), nil, b.cfg.Accounts, ts)
	if err != nil {
		return fmt.Errorf("audit scan at ts %d: %v", ts, err)
	}
	if len(pairs) != len(balances) {
		return broke("scan at ts %d returned %d pairs, want the %d accounts", ts, len(pairs), len(balances))
	}
	for i, pair := range pairs {
		want := strconv.FormatInt(balances[i], 10)
		if !bytes.Equal(pair.Key, b.key(i)) || string(pair.Value) != want {
			return broke("scan at ts %d returned %q=%q at position %d, want %q=%q (as read by get)",
				ts, pair.Key, pair.Value, i, b.key(i), want)
		}
	}
	return nil
}

// checkFinal reads every account once all clients are done (resolving the
// locks the crashed ones left) and compares with the committed transfers.
func (b *bank) checkFinal(deltas [][]int64) error {
	ts, err := b.timestamp()
	if err != nil {
		return fmt.Errorf("final audit: no timestamp: %v", err)
	}
	if err := b.auditAt(ts); err != nil {
		return fmt.Errorf("final audit: %v", err)
	}
	balances := b.snapshots[ts]
	if balances == nil {
		// The snapshot table was full: read again, locks are resolved by now.
		var err error
		if balances, err = b.readAll(ts); err != nil {
			return fmt.Errorf("final audit: %v", err)
		}
	}
	if b.unknown.Load() {
		// Some transfers may have committed unseen: the total is all we know.
		return nil
	}
	want := make([]int64, b.cfg.Accounts)
	for account := range want {
		want[account] = b.cfg.Balance
		for _, clientDeltas := range deltas {
			want[account] += clientDeltas[account]
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(balances) {
		return fmt.Errorf("final balances at ts %d are %v, but the committed transfers make %v", ts, balances, want)
	}
	return nil
}

// brokenRule is an audit that saw the store break a rule (as opposed to
// one that could not read).
type brokenRule struct{ msg string }

func (e *brokenRule) Error() string { return e.msg }

func broke(format string, args ...interface{}) error {
	return &brokenRule{msg: fmt.Sprintf(format, args...)}
}

// isAbort reports whether err is a clean abort of a transaction.
func isAbort(err error) bool {
	return errors.Is(err, ErrAborted)
}
